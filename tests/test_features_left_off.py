"""Issue 16's features are pieces a blueprint switches on: a bundled blueprint that leaves them off
gets no trace of them, not in its code, its config, its tests or its files."""

from __future__ import annotations

import pytest
from generated import project_for

TRACES = ["MixUp", "CutMix", "BatchMix", "mix(", "RandAugment", "RandomErasing", "feature_cache",
          "feature-cache", "cache_features", "image_key", "file_key", "features.cached", "onnx",
          "torch.export", "mixup", "cutmix", "AUX_WEIGHTS", "training_loss", "aux_logits",
          "self.training", "Auxiliary"]  # fmt: skip


@pytest.mark.parametrize("name", ["lenet", "bcnn_vgg16", "san_vgg_lstm", "resnet_cifar"])
def test_a_blueprint_without_the_features_gets_none_of_their_code(name, generated_root):
    dest, _ = project_for(name, generated_root)
    for missing in (f"{name}/features.py", f"{name}/export.py", "tests/test_export.py"):
        assert not (dest / missing).exists()
    files = [*sorted(dest.rglob("*.py")), dest / "configs" / "default.yaml", dest / "README.md"]
    files.append(dest / "pyproject.toml")
    found = [(f.name, t) for f in files for t in TRACES if t in f.read_text()]
    assert found == []


@pytest.mark.parametrize(
    "name, warmup", [("lenet", False), ("san_vgg_lstm", False), ("resnet50", True)]
)
def test_warmup_epochs_is_in_the_config_of_a_project_with_a_warmup_only(
    name, warmup, generated_root
):
    """A warm-up is code a blueprint switches on; without it, no setting would read warmup_epochs."""
    dest, _ = project_for(name, generated_root)
    config = (dest / "configs" / "default.yaml").read_text()
    phases = (dest / name / "phases.py").read_text()
    assert ("warmup_epochs" in config) == ("warmup_epochs" in phases) == warmup
