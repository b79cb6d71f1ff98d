"""The built-in data: the right shapes, deterministic, and every sample exactly once per epoch."""

import torch

from vgg16 import data

CONFIG = {"synthetic": {"train_size": 64, "val_size": 32}, "val_split": None}
SIZE = (32, 32)


def test_synthetic_samples_have_the_model_input_shape():
    datasets = data.load_datasets(None, CONFIG, SIZE)
    item = datasets.train[(0, 123)]
    assert item["image"].dtype == torch.uint8
    assert item["image"].shape == (data.CHANNELS, *SIZE)
    assert 0 <= item["label"] < len(datasets.classes)


def test_augmentation_depends_only_on_the_sample_seed():
    datasets = data.load_datasets(None, CONFIG, SIZE)
    first, again = datasets.train[(3, 99)], datasets.train[(3, 99)]
    assert torch.equal(first["image"], again["image"])


def test_every_sample_is_evaluated_exactly_once_across_ranks():
    seen = []
    for rank in range(3):
        sampler = data.SeededSampler(10, seed=0, shuffle=False, rank=rank, world_size=3)
        seen += [index for index, _ in sampler]
    assert sorted(seen) == list(range(10))


def test_training_order_changes_every_epoch_and_resumes_mid_epoch():
    sampler = data.SeededSampler(20, seed=0, shuffle=True)
    sampler.set_epoch(0)
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert sorted(i for i, _ in epoch0) == list(range(20))
    assert epoch0 != epoch1
    sampler.set_epoch(1, start=5)
    assert list(sampler) == epoch1[5:]


def test_normalize_gives_floats_on_the_same_device():
    images = torch.randint(0, 256, (2, data.CHANNELS, 8, 8), dtype=torch.uint8)
    out = data.normalize(images)
    assert out.dtype == torch.float32 and out.shape == images.shape
