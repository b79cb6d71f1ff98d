"""Named architectures from the papers, as the blueprints can refer to them."""

from __future__ import annotations

# VGG configurations (Simonyan & Zisserman 2015, table 1; torchvision models/vgg.py):
# numbers are 3x3 convolutions with that many channels, "M" a 2x2 max pool.
VGG_CFGS: dict[str, list[int | str]] = {
    "VGG11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "VGG13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "VGG16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "VGG19": [
        64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
        512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
    ],
}  # fmt: skip

VGG_LETTERS = {"VGG11": "A", "VGG13": "B", "VGG16": "D", "VGG19": "E"}

# torchvision architectures whose ImageNet weights a blueprint can ask for, and what the
# blueprint must then contain so that the state_dict keys and shapes match exactly.
TORCHVISION_VGG = {
    "vgg11": ("VGG11", False),
    "vgg13": ("VGG13", False),
    "vgg16": ("VGG16", False),
    "vgg19": ("VGG19", False),
    "vgg11_bn": ("VGG11", True),
    "vgg13_bn": ("VGG13", True),
    "vgg16_bn": ("VGG16", True),
    "vgg19_bn": ("VGG19", True),
}

# name: (block, blocks per stage); every torchvision ResNet has the 7x7 stem with 64 channels,
# stages of 64/128/256/512 (x4 for bottlenecks) channels with strides 1, 2, 2, 2 and conv1x1
# shortcuts, global average pooling and a single `fc`.
TORCHVISION_RESNETS = {
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
    "resnet101": ("bottleneck", [3, 4, 23, 3]),
    "resnet152": ("bottleneck", [3, 8, 36, 3]),
}

# torchvision weights enum and member for each name (torchvision.models.get_model_weights).
TORCHVISION_WEIGHTS = {
    **{name: (f"{name.upper()}_Weights", "IMAGENET1K_V1") for name in TORCHVISION_VGG},
    "resnet18": ("ResNet18_Weights", "IMAGENET1K_V1"),
    "resnet34": ("ResNet34_Weights", "IMAGENET1K_V1"),
    "resnet50": ("ResNet50_Weights", "IMAGENET1K_V2"),
    "resnet101": ("ResNet101_Weights", "IMAGENET1K_V2"),
    "resnet152": ("ResNet152_Weights", "IMAGENET1K_V2"),
}

NORMALIZE_PRESETS: dict[str, tuple[list[float], list[float]]] = {
    "imagenet": ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    "cifar10": ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]),
    "mnist": ([0.1307], [0.3081]),
    "half": ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
}
