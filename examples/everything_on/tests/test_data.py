"""The data: the right shapes, deterministic, every sample once per epoch, honest validation."""

import torch

from everything_on import data

SIZE = (32, 32)
CONFIG = {
    "image_size": list(SIZE),
    "synthetic": {"train_size": 64, "val_size": 32},
    "val_split": 0.25,
}
KEY = (0, 123)  # what the sampler gives: an index and its seed


def test_synthetic_samples_have_the_model_input_shape():
    datasets = data.load_datasets(None, CONFIG)
    item = datasets.train[KEY]
    assert item["image"].dtype == torch.uint8
    assert item["image"].shape == (data.CHANNELS, *SIZE)
    assert 0 <= item["label"] < len(datasets.classes)


def test_augmentation_depends_only_on_the_sample_seed():
    datasets = data.load_datasets(None, CONFIG)
    assert torch.equal(datasets.train[(3, 99)]["image"], datasets.train[(3, 99)]["image"])


def test_every_sample_is_evaluated_exactly_once_across_ranks():
    samplers = [
        data.SeededSampler(10, seed=0, shuffle=False, rank=rank, world=3) for rank in range(3)
    ]
    assert sorted(index for sampler in samplers for index in sampler.indices()) == list(range(10))


def test_training_order_changes_every_epoch_and_resumes_mid_epoch():
    sampler = data.SeededSampler(20, seed=0, shuffle=True)
    sampler.set_epoch(0)
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch0 != epoch1 and sorted(sampler.indices()) == list(range(20))
    sampler.set_epoch(1, start=5)
    assert list(sampler) == epoch1[5:]


def test_validation_is_held_out_of_every_class():
    labels = [0] * 8 + [1] * 12
    train, val = data.split(labels, 0.25, seed=0)
    assert sorted(train + val) == list(range(20)) and not set(train) & set(val)
    assert [labels[i] for i in val].count(0) == 2 and [labels[i] for i in val].count(1) == 3
    assert data.split(labels, 0.25, seed=0) == (train, val)


def test_normalize_gives_floats_on_the_same_device():
    images = torch.randint(0, 256, (2, data.CHANNELS, 8, 8), dtype=torch.uint8)
    out = data.normalize(images)
    assert out.dtype == torch.float32 and out.shape == images.shape
