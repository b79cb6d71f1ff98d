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

# name: (block, blocks per stage, groups, width per group); every torchvision ResNet has the 7x7
# stem with 64 channels, stages of 64/128/256/512 (x4 for bottlenecks) channels with strides 1, 2,
# 2, 2 and conv1x1 shortcuts, global average pooling and a single `fc`. ResNeXt groups the 3x3
# convolutions; Wide ResNet doubles their width.
TORCHVISION_RESNETS = {
    "resnet18": ("basic", [2, 2, 2, 2], 1, 64),
    "resnet34": ("basic", [3, 4, 6, 3], 1, 64),
    "resnet50": ("bottleneck", [3, 4, 6, 3], 1, 64),
    "resnet101": ("bottleneck", [3, 4, 23, 3], 1, 64),
    "resnet152": ("bottleneck", [3, 8, 36, 3], 1, 64),
    "resnext50_32x4d": ("bottleneck", [3, 4, 6, 3], 32, 4),
    "resnext101_32x8d": ("bottleneck", [3, 4, 23, 3], 32, 8),
    "resnext101_64x4d": ("bottleneck", [3, 4, 23, 3], 64, 4),
    "wide_resnet50_2": ("bottleneck", [3, 4, 6, 3], 1, 128),
    "wide_resnet101_2": ("bottleneck", [3, 4, 23, 3], 1, 128),
}

# MobileNetV2's blocks (Sandler et al. 2018, table 2): expansion t, channels c, blocks n, stride s.
MOBILENET_V2 = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


def torchvision_reference(arch: str) -> dict:
    """torchvision's `arch` as a blueprint's `model.layers` and `blocks` (plain data), for the
    whole-model weights check. The classic families are written out below; every other family's
    reference is its bundled blueprint (`blueprints/ARCH.yaml`), which a test loads torchvision's
    state_dict into strictly and compares outputs with."""
    layers = torchvision_layers(arch)
    if layers is not None:
        return {"layers": layers, "blocks": {}}
    import yaml

    from .resources import find_bundled

    path = find_bundled(arch)
    if path is None:
        raise KeyError(f"no reference for torchvision's {arch}: add blueprints/{arch}.yaml")
    # libyaml's parser where PyYAML has it (the same constructor, so the same data), ten times
    # faster than the pure-Python one: the family blueprints are long
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(path.read_text("utf-8"), Loader=loader)  # noqa: S506 (a safe loader)
    return {"layers": data["model"]["layers"], "blocks": data.get("blocks") or {}}


def torchvision_layers(arch: str) -> list | None:
    """torchvision's `arch` as blueprint layers (plain data), for the whole-model weights check;
    None for an architecture whose ImageNet weights a blueprint cannot load."""
    if arch in TORCHVISION_RESNETS:
        block, counts, groups, width = TORCHVISION_RESNETS[arch]
        expansion = 4 if block == "bottleneck" else 1
        stages = [
            {
                "stage": {
                    "block": block,
                    "blocks": count,
                    "channels": 64 * 2**i * expansion,
                    "stride": 1 if i == 0 else 2,
                    "groups": groups,
                    "width": width,
                }
            }
            for i, count in enumerate(counts)
        ]
        head = ["global_avgpool", "flatten", {"linear": {"out": "classes", "name": "fc"}}]
        return [{"stem": {"style": "imagenet", "channels": 64}}, *stages, *head]
    if arch in TORCHVISION_VGG:
        cfg, batch_norm = TORCHVISION_VGG[arch]
        classifier = [{"linear": 4096}, "relu", {"dropout": 0.5}] * 2 + [{"linear": "classes"}]
        return [
            {"vgg": {"cfg": cfg, "batch_norm": batch_norm, "name": "features"}},
            {"adaptive_avgpool": 7},
            "flatten",
            {"sequential": {"name": "classifier", "layers": classifier}},
        ]
    if arch == "alexnet":
        pool = {"maxpool": {"kernel": 3, "stride": 2}}
        features = [
            {"conv": {"out": 64, "kernel": 11, "stride": 4, "padding": 2}}, "relu", pool,
            {"conv": {"out": 192, "kernel": 5, "padding": 2}}, "relu", pool,
            {"conv": {"out": 384, "padding": 1}}, "relu",
            {"conv": {"out": 256, "padding": 1}}, "relu",
            {"conv": {"out": 256, "padding": 1}}, "relu", pool,
        ]  # fmt: skip
        classifier = [{"dropout": 0.5}, {"linear": 4096}, "relu"] * 2 + [{"linear": "classes"}]
        return [
            {"sequential": {"name": "features", "layers": features}},
            {"adaptive_avgpool": 6},
            "flatten",
            {"sequential": {"name": "classifier", "layers": classifier}},
        ]
    if arch == "mobilenet_v2":

        def conv_bn_relu6(out: int, kernel: int, stride: int) -> dict:
            conv = {"out": out, "kernel": kernel, "stride": stride, "padding": kernel // 2}
            return {"sequential": [{"conv": {**conv, "bias": False}}, "batch_norm", "relu6"]}

        blocks = [
            {"inverted_residual": {"expansion": t, "out": c, "blocks": n, "stride": s}}
            for t, c, n, s in MOBILENET_V2
        ]
        features = [conv_bn_relu6(32, 3, 2), *blocks, conv_bn_relu6(1280, 1, 1)]
        classifier = [{"dropout": 0.2}, {"linear": "classes"}]
        return [
            {"sequential": {"name": "features", "layers": features}},
            "global_avgpool",
            "flatten",
            {"sequential": {"name": "classifier", "layers": classifier}},
        ]
    return None


# The classifier of each whole-model architecture (its state_dict prefix): loaded from ImageNet's
# weights only when the blueprint has ImageNet's 1000 classes.
TORCHVISION_HEADS = {
    **{name: "fc" for name in TORCHVISION_RESNETS},
    **{name: "classifier.6" for name in TORCHVISION_VGG},
    "alexnet": "classifier.6",
    "mobilenet_v2": "classifier.1",
    "googlenet": "fc",
    "inception_v3": "fc",
    "convnext_tiny": "classifier.2",
    "convnext_small": "classifier.2",
    "regnet_y_400mf": "fc",
    "regnet_x_400mf": "fc",
    "efficientnet_b0": "classifier.1",
    "efficientnet_b1": "classifier.1",
    "efficientnet_v2_s": "classifier.1",
    "squeezenet1_1": "classifier.1",
    "densenet121": "classifier",
    "shufflenet_v2_x1_0": "fc",
    "swin_t": "head",
    "swin_v2_t": "head",
    "mobilenet_v3_small": "classifier.3",
    "mobilenet_v3_large": "classifier.3",
    "mnasnet1_0": "classifier.1",
    "vit_b_16": "heads.head",
    "vit_b_32": "heads.head",
    "maxvit_t": "classifier.5",
}

# The normalisation an architecture's weights were trained with, where it is not ImageNet's: a
# model whose data is normalised otherwise starts with `renormalize` (torchvision's transform_input).
TORCHVISION_INPUT = {"googlenet": "half", "inception_v3": "half"}

# torchvision weights enum and member for each name (torchvision.models.get_model_weights); the
# newest ImageNet weights where there are two.
TORCHVISION_WEIGHTS = {
    **{name: (f"{name.upper()}_Weights", "IMAGENET1K_V1") for name in TORCHVISION_VGG},
    "resnet18": ("ResNet18_Weights", "IMAGENET1K_V1"),
    "resnet34": ("ResNet34_Weights", "IMAGENET1K_V1"),
    "resnet50": ("ResNet50_Weights", "IMAGENET1K_V2"),
    "resnet101": ("ResNet101_Weights", "IMAGENET1K_V2"),
    "resnet152": ("ResNet152_Weights", "IMAGENET1K_V2"),
    "resnext50_32x4d": ("ResNeXt50_32X4D_Weights", "IMAGENET1K_V2"),
    "resnext101_32x8d": ("ResNeXt101_32X8D_Weights", "IMAGENET1K_V2"),
    "resnext101_64x4d": ("ResNeXt101_64X4D_Weights", "IMAGENET1K_V1"),
    "wide_resnet50_2": ("Wide_ResNet50_2_Weights", "IMAGENET1K_V2"),
    "wide_resnet101_2": ("Wide_ResNet101_2_Weights", "IMAGENET1K_V2"),
    "alexnet": ("AlexNet_Weights", "IMAGENET1K_V1"),
    "mobilenet_v2": ("MobileNet_V2_Weights", "IMAGENET1K_V2"),
    "googlenet": ("GoogLeNet_Weights", "IMAGENET1K_V1"),
    "inception_v3": ("Inception_V3_Weights", "IMAGENET1K_V1"),
    "convnext_tiny": ("ConvNeXt_Tiny_Weights", "IMAGENET1K_V1"),
    "convnext_small": ("ConvNeXt_Small_Weights", "IMAGENET1K_V1"),
    "regnet_y_400mf": ("RegNet_Y_400MF_Weights", "IMAGENET1K_V2"),
    "regnet_x_400mf": ("RegNet_X_400MF_Weights", "IMAGENET1K_V2"),
    "efficientnet_b0": ("EfficientNet_B0_Weights", "IMAGENET1K_V1"),
    "efficientnet_b1": ("EfficientNet_B1_Weights", "IMAGENET1K_V2"),
    "efficientnet_v2_s": ("EfficientNet_V2_S_Weights", "IMAGENET1K_V1"),
    "squeezenet1_1": ("SqueezeNet1_1_Weights", "IMAGENET1K_V1"),
    "densenet121": ("DenseNet121_Weights", "IMAGENET1K_V1"),
    "shufflenet_v2_x1_0": ("ShuffleNet_V2_X1_0_Weights", "IMAGENET1K_V1"),
    "swin_t": ("Swin_T_Weights", "IMAGENET1K_V1"),
    "swin_v2_t": ("Swin_V2_T_Weights", "IMAGENET1K_V1"),
    "mobilenet_v3_small": ("MobileNet_V3_Small_Weights", "IMAGENET1K_V1"),
    "mobilenet_v3_large": ("MobileNet_V3_Large_Weights", "IMAGENET1K_V2"),
    "mnasnet1_0": ("MNASNet1_0_Weights", "IMAGENET1K_V1"),
    # ViT: the weights trained at 224 px (the SWAG ones are at 384 px, or a frozen trunk)
    "vit_b_16": ("ViT_B_16_Weights", "IMAGENET1K_V1"),
    "vit_b_32": ("ViT_B_32_Weights", "IMAGENET1K_V1"),
    "maxvit_t": ("MaxVit_T_Weights", "IMAGENET1K_V1"),
}

# Keys of torchvision's weight files that its models rename when loading them: the comment the
# generated load_pretrained gives (lines of up to 94 characters), and each old part of a key with
# its new one.
TORCHVISION_OLD_KEYS = {
    "densenet121": (
        [
            'torchvision\'s DenseNet weight files name a dense layer\'s parts "norm.1", "conv.2", ...',
            '(module names could hold dots then); its models, and this one, "norm1", "conv2", ...',
        ],
        [(f".{part}.{i}.", f".{part}{i}.") for i in (1, 2) for part in ("norm", "conv")],
    ),
}

NORMALIZE_PRESETS: dict[str, tuple[list[float], list[float]]] = {
    "imagenet": ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    "cifar10": ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]),
    "mnist": ([0.1307], [0.3081]),
    "half": ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
}
