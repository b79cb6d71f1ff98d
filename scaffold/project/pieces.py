"""The pieces of code a generated project holds (`x` in the templates), decided once from its
blueprint, its model's plan, its training phases and features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import transforms as T
from ..blueprint import Blueprint
from ..features.gpu_decode import JPEG_DATASETS
from ..features.torchvision_data import TORCHVISION_SETS

if TYPE_CHECKING:
    from ..features import Feature
    from ..plan import ModelPlan

NATIVE_CHANNELS = {"mnist": 1, "cifar10": 3}


@dataclass(frozen=True)
class Pieces:
    """Which pieces of code a generated project holds, decided here once from its blueprint. The
    templates include or leave out whole pieces by these values, and decide nothing themselves."""

    vqa: bool  # questions and answers (else labelled images)
    in_memory: bool  # small images held in memory as one uint8 tensor
    tensor_images: bool  # in memory, in a data set class of their own (augmented, or on the GPU)
    torchvision: str  # "MNIST" or "CIFAR10": torchvision's copy of the data set (else "")
    cub: bool  # CUB-200-2011's files and bounding boxes
    gpu_decode: bool  # JPEG files decoded on the GPU in batches (--decode gpu)
    on_device: bool  # the whole data set held on the GPU (--data-on-device)
    random_augmentation: bool  # training transforms with random choices, seeded per sample
    loader_workers: bool  # loader processes (--workers): none for a tensor in memory, not augmented
    phases: bool  # phases that train only some modules
    pretrained: bool  # torchvision weights to start from
    any_size: bool  # the model takes other image sizes too (--image-size)
    convert_channels: bool  # images whose channels differ from the model's input are converted
    optimizers: tuple[str, ...]  # the optimizers the phases name
    schedules: tuple[str, ...]  # the learning-rate schedules the phases name
    feature_cache: bool  # the feature cache unit is on (data.py and the README still ask)
    # training features a blueprint switches on (each absent from projects that leave it off)
    features: tuple[str, ...]  # the units of scaffold/features/ it has, by name, in their order
    per_step: bool  # the schedules move after every optimizer step (else once an epoch)

    @classmethod
    def of(
        cls,
        bp: Blueprint,
        plan: ModelPlan,
        phases: list[dict],
        has_phases: bool,
        features: tuple[Feature, ...],
    ) -> Pieces:
        """The pieces of a project of the blueprint `bp`, whose model's plan is `plan`, whose
        training phases are `phases` (every setting filled in) and whose training features are
        `features`."""
        dataset, channels = bp.data.dataset, bp.image.channels
        schedules = [phase["schedule"] for phase in phases]
        names = tuple(unit.name for unit in features)
        return cls(
            vqa=bp.is_vqa,
            in_memory=bp.in_memory,
            tensor_images=bp.in_memory
            and (T.is_random(bp.data.transforms.train) or bp.data.on_device),
            torchvision=TORCHVISION_SETS.get(dataset, ""),
            cub=dataset == "cub",
            gpu_decode=dataset in JPEG_DATASETS,
            on_device=bp.data.on_device,
            random_augmentation=T.is_random(bp.data.transforms.train),
            loader_workers=bp.loader_workers,
            phases=has_phases,
            pretrained=bool(plan.pretrained),
            any_size=plan.size_agnostic,
            convert_channels=channels not in (1, 3)
            or NATIVE_CHANNELS.get(dataset, channels) != channels,
            optimizers=tuple(sorted({phase["optimizer"]["name"] for phase in phases})),
            schedules=tuple(sorted({schedule["name"] for schedule in schedules})),
            feature_cache="feature_cache" in names,
            features=names,
            per_step="per_step" in names,  # its unit decides
        )
