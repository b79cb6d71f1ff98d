"""Generated models keep torchvision's module names and state_dict layout: its weights (random
init here: nothing can be downloaded) load with strict=True and give the same outputs."""

from __future__ import annotations

import pytest
import torch
import torchvision
from generated import import_generated, project_for


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_loads_torchvision_weights_strictly_and_agrees(name, generated_root):
    dest, project = project_for(name, generated_root)
    ours = getattr(import_generated(dest, "model"), project.class_name)(num_classes=1000)
    theirs = getattr(torchvision.models, name)(weights=None)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.eval(), theirs.eval()
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["bcnn_vgg16", "san_vgg_lstm", "san_vgg_cnn"])
def test_vgg16_backbone_loads_torchvision_features_strictly_and_agrees(name, generated_root):
    """B-CNN drops pool5 (features[:-1]); the SANs keep it. Both load vgg16().features."""
    dest, project = project_for(name, generated_root)
    ours = getattr(import_generated(dest, "model"), project.class_name)()
    theirs = torchvision.models.vgg16(weights=None).features
    ours.features.load_state_dict(theirs.state_dict(), strict=True)
    ours.eval(), theirs.eval()
    x = torch.randn(2, 3, 64, 64)
    expected = theirs[:-1](x) if name == "bcnn_vgg16" else theirs(x)
    with torch.no_grad():
        torch.testing.assert_close(ours.features(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["resnet18", "bcnn_vgg16"])
def test_load_pretrained_reads_a_local_weights_file(name, generated_root, tmp_path):
    """--weights FILE: torchvision's state_dict saved to disk (what a user downloads elsewhere)."""
    dest, project = project_for(name, generated_root)
    module = import_generated(dest, "model")
    arch = project.pretrained.arch
    theirs = getattr(torchvision.models, arch)(weights=None)
    path = tmp_path / f"{arch}.pth"
    torch.save(theirs.state_dict(), path)
    ours = getattr(module, project.class_name)()  # its own number of classes
    module.load_pretrained(ours, str(path))
    first_conv = "conv1.weight" if name == "resnet18" else "features.0.weight"
    torch.testing.assert_close(ours.state_dict()[first_conv], theirs.state_dict()[first_conv])


def test_offline_pretrained_download_says_how_to_pass_a_file(generated_root, monkeypatch):
    dest, project = project_for("resnet18", generated_root)
    module = import_generated(dest, "model")
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1

    def offline(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(type(weights), "get_state_dict", offline)
    with pytest.raises(SystemExit) as stop:
        module.load_pretrained(getattr(module, project.class_name)())
    assert "--weights FILE" in str(stop.value) and "--no-pretrained" in str(stop.value)
