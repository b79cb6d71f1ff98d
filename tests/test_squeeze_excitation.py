"""The generated squeeze-excitation is the paper's: each sample scaled by its own weights, once,
on the residual branch after its last batch norm, before the addition and the final ReLU."""

from __future__ import annotations

import torch
from generated import import_generated, project_for


def test_se_module_matches_the_formula_per_sample(generated_root):
    dest, _ = project_for("se_resnet_cifar", generated_root)
    model = import_generated(dest, "model")
    torch.manual_seed(0)
    se = model.SqueezeExcitation(32, reduction=16)
    x = torch.randn(4, 32, 5, 5) * torch.arange(1, 5).view(4, 1, 1, 1)  # four different samples
    expected = torch.empty_like(x)
    for n in range(4):  # the formula, one sample at a time
        z = x[n].mean(dim=(1, 2))
        s = torch.sigmoid(se.fc2.weight @ torch.relu(se.fc1.weight @ z + se.fc1.bias) + se.fc2.bias)
        expected[n] = x[n] * s[:, None, None]
    torch.testing.assert_close(se(x), expected)


def test_reduction_never_leaves_zero_channels(generated_root):
    dest, _ = project_for("se_resnet_cifar", generated_root)
    se = import_generated(dest, "model").SqueezeExcitation(8, reduction=16)
    assert se.fc1.out_features == 1


def test_block_applies_se_before_the_addition_and_final_relu(generated_root):
    dest, _ = project_for("se_resnet_cifar", generated_root)
    model = import_generated(dest, "model")
    torch.manual_seed(0)
    block = model.BasicBlock(16, 16, se_reduction=16).eval()
    x = torch.randn(3, 16, 8, 8)
    with torch.no_grad():
        out = block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(x)))))
        z = out.mean(dim=(2, 3))
        s = torch.sigmoid(block.se.fc2(torch.relu(block.se.fc1(z))))
        expected = torch.relu(out * s[:, :, None, None] + x)
        torch.testing.assert_close(block(x), expected)
