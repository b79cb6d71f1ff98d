"""A corpus of malformed blueprints: each is refused before anything is written.

Every case is a small blueprint and the exact first line of what scaffold prints,
`FILE:LINE:COL: FIELD: message`, whose line must be the one to fix. Most go through
`scaffold validate`; a few through `scaffold new`, which must then leave no DEST behind.
"""

from __future__ import annotations

import re
import textwrap

import pytest
from conftest import run_scaffold

from scaffold.presets import TORCHVISION_HEADS

LOCATED = re.compile(r"^bp\.yaml:(\d+):(\d+): ")


def case(
    id: str,
    text: str,
    expected: str,
    at: str | None = None,
    command: str = "validate",
    bug: str | None = None,
):
    """One malformed blueprint; `expected` is the first line of the output (a prefix when it ends
    with ": "); `at` is text found on the line the message points at."""
    marks = [pytest.mark.xfail(reason=bug, strict=True)] if bug else []
    return pytest.param(text, expected, at, command, id=id, marks=marks)


CASES = [
    case(
        "yaml-tab-indent",
        """
        name: tab
        input: {channels: 3, height: 32, width: 32}
        model:
        \tlayers: [flatten, linear: classes]
        """,
        "bp.yaml:4:1: invalid YAML: found character '\\t' that cannot start any token",
        at="\tlayers",
        command="new",
    ),
    case(
        "yaml-unclosed-brace",
        """
        name: brace
        input: {channels: 3, height: 32, width: 32
        model:
          layers: [flatten, linear: classes]
        """,
        "bp.yaml:3:6: invalid YAML: while parsing a flow mapping: expected ',' or '}', but got ':'",
        at="model:",
    ),
    case(
        "yaml-unclosed-bracket",
        """
        name: bracket
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes
        """,
        "bp.yaml:4:11: invalid YAML: this [ is never closed (the file ends first)",
        at="[flatten",
    ),
    case(
        "yaml-bad-indentation",
        """
        name: indent
          input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        """,
        "bp.yaml:2:8: invalid YAML: mapping values are not allowed here",
        at="  input:",
    ),
    case(
        "yaml-unclosed-quote",
        """
        name: quote
        description: 'a quote that never ends
        input: {channels: 1, height: 8, width: 8}
        """,
        "bp.yaml:2:14: invalid YAML: this ' is never closed (the file ends first)",
        at="'a quote",
    ),
    case(
        "yaml-two-documents",
        """
        name: one
        ---
        name: two
        """,
        "bp.yaml:2:1: invalid YAML: expected a single document in the stream, but found another document",
        at="---",
    ),
    case(
        "yaml-duplicate-key",
        """
        name: first
        input: {channels: 1, height: 8, width: 8}
        name: second
        """,
        "bp.yaml:3:1: name: duplicate key 'name' (first given at line 1)",
        at="name: second",
    ),
    case(
        "yaml-duplicate-nested-key",
        """
        name: dup
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          batch_size: 8
          epochs: 2
        """,
        "bp.yaml:8:3: train.epochs: duplicate key 'epochs' (first given at line 6)",
        at="epochs: 2",
    ),
    case(
        "yaml-python-tag",
        """
        name: !!python/object/apply:os.system ["touch PWNED"]
        input: {channels: 1, height: 8, width: 8}
        """,
        "bp.yaml:1:7: name: unsupported YAML tag '!!python/object/apply:os.system'",
        at="name:",
    ),
    case(
        "yaml-alias-inside-its-anchor",
        """
        name: loop
        input: &loop {channels: 1, height: 8, width: 8, again: *loop}
        """,
        "bp.yaml:2:8: input.again: this alias refers to an anchor that contains it",
        at="again",
    ),
    case(
        "yaml-non-printable-character",
        "name: bell\x07\ninput: {channels: 1, height: 8, width: 8}\n",
        "bp.yaml:1:11: invalid YAML: the non-printable character #x0007 is not allowed",
        at="bell",
    ),
    case(
        "empty-file",
        "",
        "bp.yaml:1:1: the file is empty",
        command="new",
    ),
    case(
        "only-comments",
        """
        # a blueprint, some day
        """,
        "bp.yaml:1:1: the file has only comments",
        at="# a blueprint",
    ),
    case(
        "list-at-top",
        """
        - name: lenet
        - input: {channels: 1, height: 32, width: 32}
        """,
        "bp.yaml:1:1: a blueprint is a mapping with name, description, input, model, data and train, not a list",
        at="- name",
    ),
    case(
        "unknown-top-level-key",
        """
        name: typo
        descripton: a small net
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train: {epochs: 1}
        """,
        "bp.yaml:2:1: descripton: unknown key 'descripton'",
        at="descripton",
    ),
    case(
        "missing-name",
        """
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train: {epochs: 1}
        """,
        "bp.yaml:1:1: name: missing required key 'name'",
        at="input",
    ),
    case(
        "missing-input",
        """
        name: noinput
        model:
          layers: [flatten, linear: classes]
        train: {epochs: 1}
        """,
        "bp.yaml:1:1: input: missing required key 'input'",
        at="name",
    ),
    case(
        "missing-model",
        """
        name: nomodel
        input: {channels: 1, height: 8, width: 8}
        train: {epochs: 1}
        """,
        "bp.yaml:1:1: model: missing required key 'model'",
        at="name",
    ),
    case(
        "missing-layers",
        """
        name: nolayers
        input: {channels: 1, height: 8, width: 8}
        model:
          class_name: Net
        train: {epochs: 1}
        """,
        "bp.yaml:4:3: model.layers: missing required key 'layers' in model",
        at="class_name",
    ),
    case(
        "missing-epochs",
        """
        name: noepochs
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train:
          batch_size: 8
        """,
        "bp.yaml:6:3: train.epochs: missing required key 'epochs' in train",
        at="batch_size",
    ),
    case(
        "string-for-int",
        """
        name: strint
        input: {channels: "3", height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train: {epochs: 1}
        """,
        "bp.yaml:2:19: input.channels: expected an integer from 1 to 64, got the text '3'",
        at="channels",
    ),
    case(
        "bool-for-int",
        """
        name: boolint
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: yes
        """,
        "bp.yaml:6:11: train.epochs: expected an integer from 1 to 100000, got the boolean true",
        at="epochs: yes",
    ),
    case(
        "float-for-int",
        """
        name: floatint
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            - flatten
            - linear: 2.5
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:6:15: model.layers[1] (linear).out: expected an integer from 1 to 1000000, got float 2.5",
        at="linear: 2.5",
    ),
    case(
        "list-for-mapping",
        """
        name: listmap
        input: [3, 32, 32]
        model:
          layers: [flatten, linear: classes]
        train: {epochs: 1}
        """,
        "bp.yaml:2:8: input: expected a mapping, got a list",
        at="input:",
    ),
    case(
        "mapping-for-list",
        """
        name: maplist
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            flatten: true
        train: {epochs: 1}
        """,
        "bp.yaml:5:5: model.layers: expected a list, each entry a layer, got a mapping",
        at="flatten: true",
    ),
    case(
        "too-large-int",
        """
        name: huge
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            - flatten
            - linear: 5000000
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:6:15: model.layers[1] (linear).out: must be at most 1000000, got 5000000",
        at="5000000",
    ),
    case(
        "negative-size",
        """
        name: negative
        input: {channels: 3, height: 32, width: 32}
        model:
          layers:
            - conv: {out: -16, kernel: 3}
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:5:19: model.layers[0] (conv).out: must be at least 1, got -16",
        at="-16",
    ),
    case(
        "zero-size",
        """
        name: zero
        input: {channels: 3, height: 0, width: 32}
        model:
          layers: [flatten, linear: classes]
        train: {epochs: 1}
        """,
        "bp.yaml:2:30: input.height: must be at least 1, got 0",
        at="height: 0",
    ),
    case(
        "empty-layer-list",
        """
        name: nolayers
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: []
        train: {epochs: 1}
        """,
        "bp.yaml:4:11: model.layers: is empty",
        at="layers: []",
    ),
    case(
        "null-layer",
        """
        name: nulllayer
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            - flatten
            -
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:6:6: model.layers[1]: expected a layer such as `relu` or `conv: {out: 64}`, got nothing (null)",
        at="-",
    ),
    case(
        "unknown-layer-type",
        """
        name: typo
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            - conv: 4
            - rleu
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:6:7: model.layers[1]: unknown layer type 'rleu'",
        at="rleu",
        command="new",
    ),
    case(
        "unknown-layer-argument",
        """
        name: typo
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            - conv: {out: 4, kernal: 3}
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:5:22: model.layers[0] (conv).kernal: unknown key 'kernal' in model.layers[0] (conv)",
        at="kernal",
    ),
    case(
        "layer-with-two-kinds",
        """
        name: twokinds
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            - conv: 4
              kernel: 3
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:5:7: model.layers[0]: a layer is one kind with its arguments, but this entry has 2 keys: conv, kernel",
        at="conv: 4",
    ),
    case(
        "activation-given-a-value",
        """
        name: relu3
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            - conv: 4
            - relu: 3
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:6:13: model.layers[1] (relu): relu takes no single value",
        at="relu: 3",
    ),
    case(
        "pool-on-1x1-map",
        """
        name: pool1x1
        input: {channels: 3, height: 2, width: 2}
        model:
          layers:
            - conv: {out: 8, kernel: 2}
            - maxpool: 2
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:6:7: model.layers[1] (maxpool): input 8x1x1 is smaller than kernel 2x2",
        at="maxpool",
        command="new",
    ),
    case(
        "conv-kernel-larger-than-input",
        """
        name: bigkernel
        input: {channels: 1, height: 28, width: 28}
        model:
          layers:
            - conv: {out: 6, kernel: 5}
            - maxpool: 2
            - conv: {out: 16, kernel: 15}
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:7:7: model.layers[2] (conv): input 6x12x12 is smaller than kernel 15x15",
        at="kernel: 15",
    ),
    case(
        "linear-on-4d-without-flatten",
        """
        name: noflatten
        input: {channels: 1, height: 32, width: 32}
        model:
          layers:
            - conv: {out: 6, kernel: 5}
            - relu
            - maxpool: 2
            - linear: 120
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:8:7: model.layers[3] (linear): linear needs a flat input but gets 6x14x14",
        at="linear: 120",
    ),
    case(
        "too-many-vgg-pools",
        """
        name: vggsmall
        input: {channels: 3, height: 16, width: 16}
        model:
          layers:
            - vgg: VGG11
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:5:7: model.layers[0] (vgg).cfg[12] (M): input 512x1x1 is smaller than kernel 2x2",
        at="vgg: VGG11",
    ),
    case(
        "stage-shortcut-none-with-shape-change",
        """
        name: noshortcut
        input: {channels: 3, height: 32, width: 32}
        model:
          layers:
            - stem: {style: cifar, channels: 16}
            - stage: {block: basic, blocks: 2, channels: 32, stride: 2, shortcut: none}
            - global_avgpool
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:6:7: model.layers[1] (stage).shortcut: the first block changes the shape from 16x32x32 to 32x16x16, so the shortcut cannot be the identity",
        at="shortcut: none",
    ),
    case(
        "bottleneck-channels-not-divisible-by-4",
        """
        name: bottleneck
        input: {channels: 3, height: 32, width: 32}
        model:
          layers:
            - stem: cifar
            - stage: {block: bottleneck, blocks: 1, channels: 66}
            - global_avgpool
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:6:7: model.layers[1] (stage).channels: a bottleneck stage's output channels are 4x its width, so 66 must divide by 4",
        at="channels: 66",
    ),
    case(
        "last-layer-wrong-class-count",
        """
        name: scores
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            - flatten
            - linear: 7
        data:
          classes: 10
        train: {epochs: 1}
        """,
        "bp.yaml:6:7: model.layers[1] (linear): the model gives 7 scores but the data has 10 classes",
        at="linear: 7",
    ),
    case(
        "model-ends-with-feature-map",
        """
        name: nohead
        input: {channels: 3, height: 8, width: 8}
        model:
          layers:
            - conv: 4
            - relu
        train: {epochs: 1}
        """,
        "bp.yaml:6:7: model.layers[1] (relu): the model ends with 4x6x6 but must give one score per class (10)",
        at="relu",
    ),
    case(
        "conv-after-flatten",
        """
        name: convflat
        input: {channels: 3, height: 8, width: 8}
        model:
          layers:
            - flatten
            - conv: 4
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:6:7: model.layers[1] (conv): conv needs a C x H x W image input but gets a vector of 192 features",
        at="conv: 4",
    ),
    case(
        "pool-padding-over-half-kernel",
        """
        name: poolpad
        input: {channels: 3, height: 8, width: 8}
        model:
          layers:
            - maxpool: {kernel: 2, padding: 2}
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:5:7: model.layers[0] (maxpool).padding: padding 2x2 is more than half of the kernel 2x2",
        at="padding: 2",
    ),
    case(
        "padding-same-with-stride",
        """
        name: same
        input: {channels: 3, height: 8, width: 8}
        model:
          layers:
            - conv: {out: 8, stride: 2, padding: same}
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:5:7: model.layers[0] (conv).padding: padding `same` only works with stride 1",
        at="padding: same",
    ),
    case(
        "groups-not-dividing-channels",
        """
        name: groups
        input: {channels: 3, height: 8, width: 8}
        model:
          layers:
            - conv: {out: 8, groups: 2}
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:5:7: model.layers[0] (conv).groups: groups=2 must divide both the input channels (3) and out (8)",
        at="groups: 2",
    ),
    case(
        "unknown-dataset",
        """
        name: data
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        data:
          dataset: cifar100
        train: {epochs: 1}
        """,
        "bp.yaml:6:12: data.dataset: unknown value 'cifar100'; expected one of synthetic, image_folder, cifar10, mnist, cub, vqa, synthetic_vqa",
        at="cifar100",
    ),
    case(
        "dataset-with-other-class-count",
        """
        name: data
        input: {channels: 1, height: 28, width: 28}
        model:
          layers: [flatten, linear: classes]
        data:
          dataset: mnist
          classes: 12
        train: {epochs: 1}
        """,
        "bp.yaml:7:3: data.classes: mnist has 10 classes, not 12",
        at="classes: 12",
    ),
    case(
        "duplicate-class-names",
        """
        name: data
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        data:
          classes: [cat, dog, cat]
        train: {epochs: 1}
        """,
        "bp.yaml:6:3: data.classes: class names must be different; 'cat' appears more than once",
        at="classes:",
    ),
    case(
        "normalize-wrong-channel-count",
        """
        name: norm
        input: {channels: 3, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        data:
          normalize:
            mean: [0.5]
            std: [0.5, 0.5, 0.5]
        train: {epochs: 1}
        """,
        "bp.yaml:7:5: data.normalize.mean: has 1 value but the input has 3 channels",
        at="mean: [0.5]",
    ),
    case(
        "normalize-preset-wrong-channels",
        """
        name: norm
        input: {channels: 3, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        data:
          normalize: mnist
        train: {epochs: 1}
        """,
        "bp.yaml:6:3: data.normalize: mnist statistics are for 1 channel, the input has 3",
        at="normalize: mnist",
    ),
    case(
        "eval-transforms-leave-sizes-unequal",
        """
        name: folder
        input: {channels: 3, height: 224, width: 224}
        model:
          layers: [global_avgpool, flatten, linear: classes]
        data:
          dataset: image_folder
          transforms:
            train: [random_resized_crop, random_horizontal_flip]
            eval: [resize: 256]
        train: {epochs: 1}
        """,
        "bp.yaml:9:5: data.transforms.eval: images of different sizes cannot be stacked into a batch; no transform here makes every image the same size",
        at="eval:",
    ),
    case(
        "image-folder-without-transforms",
        """
        name: folder
        input: {channels: 3, height: 224, width: 224}
        model:
          layers: [global_avgpool, flatten, linear: classes]
        data:
          dataset: image_folder
        train: {epochs: 1}
        """,
        "bp.yaml:6:3: data.transforms.train: image_folder images come in different sizes, but no train transform makes them the same size, so they cannot be stacked into a batch",
        at="dataset: image_folder",
        command="new",
    ),
    case(
        "unknown-transform",
        """
        name: folder
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        data:
          transforms:
            train: [rezise: 36, random_crop]
        train: {epochs: 1}
        """,
        "bp.yaml:7:13: data.transforms.train[0]: unknown transform type 'rezise'",
        at="rezise",
    ),
    case(
        "vqa-data-without-question-input",
        """
        name: vqa
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        data:
          dataset: vqa
        train: {epochs: 1}
        """,
        "bp.yaml:6:3: data.dataset: vqa is a question-answering data set, but the model has no question input",
        at="dataset: vqa",
    ),
    case(
        "betas-for-sgd",
        """
        name: opt
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          optimizer: {name: sgd, lr: 0.1, betas: [0.9, 0.999]}
        """,
        "bp.yaml:7:35: train.optimizer.betas: betas is not a setting of sgd",
        at="betas",
        command="new",
    ),
    case(
        "momentum-for-adam",
        """
        name: opt
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          optimizer:
            name: adam
            lr: 0.001
            momentum: 0.9
        """,
        "bp.yaml:10:5: train.optimizer.momentum: momentum is not a setting of adam",
        at="momentum",
    ),
    case(
        "unknown-optimizer",
        """
        name: opt
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          optimizer: {name: sdg, lr: 0.1}
        """,
        "bp.yaml:7:21: train.optimizer.name: unknown value 'sdg'; expected one of sgd, adam, adamw, rmsprop",
        at="sdg",
    ),
    case(
        "optimizer-without-lr",
        """
        name: opt
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          optimizer: {name: sgd}
        """,
        "bp.yaml:7:14: train.optimizer.lr: missing required key 'lr'",
        at="optimizer",
    ),
    case(
        "step-schedule-without-step-size",
        """
        name: sched
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 10
          schedule: step
        """,
        "bp.yaml:7:13: train.schedule.step_size: the step schedule needs `step_size`",
        at="schedule: step",
    ),
    case(
        "multistep-schedule-without-milestones",
        """
        name: sched
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 10
          schedule: {name: multistep, gamma: 0.5}
        """,
        "bp.yaml:7:13: train.schedule.milestones: the multistep schedule needs `milestones`",
        at="multistep",
    ),
    case(
        "cosine-schedule-with-gamma",
        """
        name: sched
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 10
          schedule: {name: cosine, gamma: 0.1}
        """,
        "bp.yaml:7:28: train.schedule.gamma: gamma is not a setting of the cosine schedule",
        at="gamma",
    ),
    case(
        "phase-freezes-everything",
        """
        name: phases
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            - conv: 4
            - flatten
            - linear: classes
        train:
          phases:
            - name: warmup
              epochs: 1
              frozen: [conv, fc]
        """,
        "bp.yaml:12:7: train.phases[0].frozen: this phase freezes every module, so nothing would train",
        at="frozen",
    ),
    case(
        "phase-names-unknown-module",
        """
        name: phases
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            - conv: 4
            - flatten
            - linear: {out: classes, name: classifier}
        train:
          phases:
            - epochs: 1
              trainable: [clasifier]
        """,
        "bp.yaml:11:7: train.phases[0].trainable[0]: the model has no module named 'clasifier'",
        at="clasifier",
    ),
    case(
        "epochs-and-phases",
        """
        name: phases
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 5
          phases:
            - epochs: 1
        """,
        "bp.yaml:6:3: train.epochs: give either `epochs` or `phases` (each phase has its own epochs), not both",
        at="epochs: 5",
    ),
    case(
        "trainable-as-a-word",
        """
        name: phases
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train:
          phases:
            - epochs: 1
              trainable: fc
        """,
        "bp.yaml:8:18: train.phases[0].trainable: expected all or a list of module names, got the text 'fc'",
        at="trainable: fc",
    ),
    case(
        "pretrained-resnet-wrong-stage",
        """
        name: pre
        input: {channels: 3, height: 64, width: 64}
        model:
          pretrained: torchvision/resnet18
          layers:
            - stem: imagenet
            - stage: {block: basic, blocks: 2, channels: 64}
            - stage: {block: basic, blocks: 3, channels: 128, stride: 2}
            - stage: {block: basic, blocks: 2, channels: 256, stride: 2}
            - stage: {block: basic, blocks: 2, channels: 512, stride: 2}
            - global_avgpool
            - flatten
            - linear: {out: classes, name: fc}
        train: {epochs: 1}
        """,
        "bp.yaml:4:3: model.pretrained: the layers do not match torchvision's resnet18: stage 2 must be basic x2 with 128 channels, stride 2, conv1x1 shortcut and no SE",
        at="pretrained",
    ),
    case(
        "pretrained-vgg-wrong-cfg",
        """
        name: pre
        input: {channels: 3, height: 32, width: 32}
        model:
          layers:
            - vgg: {cfg: VGG11, pretrained: torchvision/vgg16}
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:5:25: model.layers[0] (vgg).pretrained: torchvision's vgg16 weights need cfg VGG16, batch_norm false and width 1",
        at="vgg16",
    ),
    case(
        "pretrained-vgg-for-the-whole-model-without-its-classifier",
        """
        name: pre
        input: {channels: 3, height: 32, width: 32}
        model:
          pretrained: torchvision/vgg16
          layers:
            - vgg: VGG16
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:4:3: model.pretrained: the layers do not match torchvision's vgg16: torchvision's has classifier.0 (linear, 102,764,544 parameters) where this model has fc (linear, 5,130 parameters)",
        at="pretrained",
    ),
    case(
        "pretrained-unknown-architecture",
        """
        name: pre
        input: {channels: 3, height: 32, width: 32}
        model:
          pretrained: torchvision/densenet169
          layers: [flatten, linear: classes]
        train: {epochs: 1}
        """,
        "bp.yaml:4:3: model.pretrained: whole-model weights are available for "
        f"{', '.join(TORCHVISION_HEADS)}, not 'densenet169'",
        at="pretrained",
    ),
    case(
        "pretrained-resnext-plain-stage",
        """
        name: pre
        input: {channels: 3, height: 64, width: 64}
        model:
          pretrained: torchvision/resnext50_32x4d
          layers:
            - stem: imagenet
            - stage: {block: bottleneck, blocks: 3, channels: 256}
            - stage: {block: bottleneck, blocks: 4, channels: 512, stride: 2, groups: 32, width: 4}
            - stage: {block: bottleneck, blocks: 6, channels: 1024, stride: 2, groups: 32, width: 4}
            - stage: {block: bottleneck, blocks: 3, channels: 2048, stride: 2, groups: 32, width: 4}
            - global_avgpool
            - flatten
            - linear: {out: classes, name: fc}
        train: {epochs: 1}
        """,
        "bp.yaml:4:3: model.pretrained: the layers do not match torchvision's resnext50_32x4d: stage 1 must be bottleneck x3 with 256 channels, groups 32, width 4, stride 1, conv1x1 shortcut and no SE",
        at="pretrained",
    ),
    case(
        "groups-on-basic-blocks",
        """
        name: groups
        input: {channels: 3, height: 32, width: 32}
        model:
          layers:
            - stem: cifar
            - stage: {block: basic, blocks: 2, channels: 64, groups: 32}
            - global_avgpool
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:6:7: model.layers[1] (stage).groups: basic blocks have no groups (torchvision's BasicBlock allows only groups 1 and width 64)",
        at="groups: 32",
    ),
    case(
        "block-that-cannot-go-in-a-group",
        """
        name: group
        input: {channels: 3, height: 32, width: 32}
        model:
          layers:
            - sequential: [conv: 8, bilinear_pool]
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:5:29: model.layers[0] (sequential).layers[1] (bilinear_pool): bilinear_pool cannot go inside a sequential group",
        at="bilinear_pool",
    ),
    case(
        "module-name-keyword",
        """
        name: names
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            - conv: {out: 4, name: lambda}
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:5:22: model.layers[0] (conv).name: 'lambda' is a Python keyword",
        at="lambda",
    ),
    case(
        "module-name-builtin",
        """
        name: names
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            - conv: {out: 4, name: print}
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:5:22: model.layers[0] (conv).name: 'print' would shadow the Python builtin of that name",
        at="print",
    ),
    case(
        "module-name-used-by-nn-module",
        """
        name: names
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            - conv: {out: 4, name: forward}
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:5:22: model.layers[0] (conv).name: 'forward' is used by nn.Module or by the generated code",
        at="forward",
    ),
    case(
        "class-name-of-a-helper-the-model-defines",
        """
        name: names
        input: {channels: 3, height: 8, width: 8}
        model:
          class_name: BasicBlock
          layers:
            - stem: cifar
            - stage: {block: basic, blocks: 1, channels: 64}
            - global_avgpool
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:4:3: model.class_name: 'BasicBlock' is a name the generated code uses already",
        at="class_name",
    ),
    case(
        "duplicate-module-names",
        """
        name: names
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            - conv: {out: 4, name: block}
            - flatten
            - linear: {out: classes, name: block}
        train: {epochs: 1}
        """,
        "bp.yaml:7:30: model.layers[2] (linear).name: the name 'block' is already used by model.layers[0] (conv)",
        at="linear",
    ),
    case(
        "module-name-not-ascii",
        """
        name: names
        input: {channels: 1, height: 8, width: 8}
        model:
          layers:
            - conv: {out: 4, name: couche_é}
            - flatten
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:5:28: model.layers[0] (conv).name: expected a Python identifier of ASCII letters, digits and _, not starting with a digit, got the text 'couche_é'",
        at="couche",
    ),
    case(
        "class-name-keyword",
        """
        name: names
        input: {channels: 1, height: 8, width: 8}
        model:
          class_name: class
          layers: [flatten, linear: classes]
        train: {epochs: 1}
        """,
        "bp.yaml:4:3: model.class_name: 'class' is a Python keyword",
        at="class_name",
        command="new",
    ),
    case(
        "class-name-builtin",
        """
        name: names
        input: {channels: 1, height: 8, width: 8}
        model:
          class_name: Exception
          layers: [flatten, linear: classes]
        train: {epochs: 1}
        """,
        "bp.yaml:4:3: model.class_name: 'Exception' would shadow the Python builtin of that name",
        at="class_name",
    ),
    case(
        "class-name-used-by-generated-code",
        """
        name: names
        input: {channels: 1, height: 8, width: 8}
        model:
          class_name: Path
          layers: [flatten, linear: classes]
        train: {epochs: 1}
        """,
        "bp.yaml:4:3: model.class_name: 'Path' is a name the generated code uses already",
        at="class_name",
    ),
    case(
        "blueprint-name-with-spaces",
        """
        name: my model
        input: {channels: 1, height: 8, width: 8}
        model:
          layers: [flatten, linear: classes]
        train: {epochs: 1}
        """,
        "bp.yaml:1:7: name: expected a name of ASCII letters, digits, _ . and -, starting with a letter, got the text 'my model'",
        at="name:",
    ),
    case(
        "question-branch-without-question-input",
        """
        name: vqa
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
          question: [embedding: 8, lstm: 16]
        train: {epochs: 1}
        """,
        "bp.yaml:5:3: model.question: `question` is for models with image and question inputs, but `input` is one image",
        at="question:",
    ),
    case(
        "embedding-on-an-image",
        """
        name: vqa
        input: {channels: 3, height: 32, width: 32}
        model:
          layers:
            - embedding: 8
            - lstm: 16
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:5:7: model.layers[0] (embedding): embedding needs word ids (the question input), but gets an image 3x32x32",
        at="embedding",
    ),
    case(
        "vqa-image-and-question-sizes-differ",
        """
        name: vqa
        input:
          image: {channels: 3, height: 32, width: 32}
          question: {max_length: 8}
        model:
          image: [conv: 8, project_regions: 16]
          question: [embedding: 8, lstm: 12]
          head:
            - stacked_attention: {hops: 1, attention: 8}
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:9:7: model.head[0] (stacked_attention): the image regions have 16 features but the question vector has 12; attention adds them, so they must be equal",
        at="stacked_attention",
    ),
    case(
        "vqa-head-without-attention",
        """
        name: vqa
        input:
          image: {channels: 3, height: 32, width: 32}
          question: {max_length: 8}
        model:
          image: [conv: 8, project_regions: 16]
          question: [embedding: 8, lstm: 16]
          head:
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:9:7: model.head[0] (linear): the head starts where the image and question branches meet, so its first layer must combine them",
        at="linear: classes",
    ),
    case(
        "vqa-lstm-without-embedding",
        """
        name: vqa
        input:
          image: {channels: 3, height: 32, width: 32}
          question: {max_length: 8}
        model:
          image: [conv: 8, project_regions: 16]
          question: [lstm: 16]
          head:
            - stacked_attention: {hops: 1, attention: 8}
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:7:14: model.question[0] (lstm): lstm needs a sequence of word vectors (after an embedding), but gets word ids (8 tokens)",
        at="lstm",
    ),
    case(
        "stacked-attention-in-single-input-model",
        """
        name: att
        input: {channels: 3, height: 32, width: 32}
        model:
          layers:
            - conv: 8
            - stacked_attention
            - linear: classes
        train: {epochs: 1}
        """,
        "bp.yaml:6:7: model.layers[1] (stacked_attention): stacked_attention combines image regions with a question, so it can only be the first layer of model.head",
        at="stacked_attention",
    ),
    case(
        "eval-transform-random",
        """
        name: evalrandom
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        data:
          transforms:
            eval: [random_horizontal_flip]
        train: {epochs: 1}
        """,
        "bp.yaml:7:12: data.transforms.eval: random_horizontal_flip is random, but evaluation must "
        "see the same images every time",
        at="random_horizontal_flip",
    ),
    case(
        "mnist-transforms-miss-the-input-size",
        """
        name: mnistsize
        input: {channels: 1, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        data:
          dataset: mnist
          transforms: {train: [pad: 2]}
        train: {epochs: 1}
        """,
        "bp.yaml:7:15: data.transforms.eval: MNIST images (28x28) come out 28x28, but the model "
        "takes 32x32",
        at="transforms",
    ),
    case(
        "on-device-image-files",
        """
        name: ondevice
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        data:
          dataset: image_folder
          on_device: true
          transforms: {train: [random_crop], eval: [center_crop]}
        train: {epochs: 1}
        """,
        "bp.yaml:7:3: data.on_device: image_folder data are image files, too many to hold on the "
        "GPU; on_device is for synthetic, cifar10 and mnist",
        at="on_device",
    ),
    case(
        "workers-for-a-tensor-in-memory",
        """
        name: workers
        input: {channels: 1, height: 28, width: 28}
        model:
          layers: [flatten, linear: classes]
        data:
          dataset: mnist
          num_workers: 2
        train: {epochs: 1}
        """,
        "bp.yaml:7:3: data.num_workers: mnist images without random transforms are batched from "
        "one tensor in memory, transformed once: the loader has no worker processes",
        at="num_workers",
    ),
    case(
        "cuda-graph-without-data-on-device",
        """
        name: graph
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          cuda_graph: true
        """,
        "bp.yaml:7:3: train.cuda_graph: the CUDA-graph step replays batches that are already on "
        "the GPU",
        at="cuda_graph",
    ),
    case(
        "cuda-graph-rmsprop",
        """
        name: graphrms
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        data: {on_device: true}
        train:
          epochs: 1
          optimizer: {name: rmsprop, lr: 0.01}
          cuda_graph: true
        """,
        "bp.yaml:9:3: train.cuda_graph: the CUDA-graph step needs an optimizer with a capturable "
        "kernel: sgd, adam or adamw, not rmsprop",
        at="cuda_graph",
    ),
    case(
        "file-transforms-end-in-another-size",
        """
        name: filesize
        input: {channels: 3, height: 48, width: 48}
        model:
          layers: [flatten, linear: classes]
        data:
          dataset: image_folder
          transforms: {train: [random_resized_crop], eval: [resize: 448, center_crop: 448]}
        train: {epochs: 1}
        """,
        "bp.yaml:7:46: data.transforms.eval: the transforms end in 448x448 images, but the model "
        "takes 48x48",
        at="center_crop: 448",
    ),
    # --- issue 16: augmentation, the feature cache, export ---------------------------------------
    case(
        "rand-augment-magnitude-too-large",
        """
        name: ra
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        data:
          transforms: {train: [rand_augment: {magnitude: 31}]}
        train: {epochs: 1}
        """,
        "bp.yaml:6:50: data.transforms.train[0] (rand_augment).magnitude: must be at most 30, "
        "got 31",
        at="magnitude: 31",
    ),
    case(
        "rand-augment-four-channels",
        """
        name: ra4
        input: {channels: 4, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        data:
          normalize: none
          transforms: {train: [rand_augment]}
        train: {epochs: 1}
        """,
        "bp.yaml:7:24: data.transforms.train: rand_augment's colour operations work on grey or "
        "RGB images, not on 4 channels",
        at="rand_augment",
    ),
    case(
        "random-erasing-probability-zero",
        """
        name: erase0
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        data:
          transforms:
            train: [random_crop: {padding: 4}, random_erasing: 0]
        train: {epochs: 1}
        """,
        "bp.yaml:7:56: data.transforms.train[1] (random_erasing).p: must be greater than 0, got 0",
        at="random_erasing: 0",
    ),
    case(
        "random-erasing-not-last",
        """
        name: erasefirst
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        data:
          transforms:
            train: [random_erasing, random_horizontal_flip]
        train: {epochs: 1}
        """,
        "bp.yaml:7:13: data.transforms.train: random_erasing erases part of the finished image, so "
        "it comes last (torchvision's references erase after every other transform)",
        at="random_erasing",
    ),
    case(
        "random-erasing-in-eval",
        """
        name: eraseeval
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        data:
          transforms:
            eval: [random_erasing]
        train: {epochs: 1}
        """,
        "bp.yaml:7:12: data.transforms.eval: random_erasing is random, but evaluation must see the "
        "same images every time",
        at="random_erasing",
    ),
    case(
        "mixup-alpha-negative",
        """
        name: mixneg
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          mixup: -0.2
        """,
        "bp.yaml:7:10: train.mixup.alpha: must be greater than 0, got -0.2",
        at="mixup",
    ),
    case(
        "cutmix-a-word",
        """
        name: cutword
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          cutmix: often
        """,
        "bp.yaml:7:11: train.cutmix: expected true, false, alpha or {alpha: ...}, got the text "
        "'often'",
        at="cutmix",
    ),
    case(
        "mixup-for-questions",
        """
        name: mixvqa
        input:
          image: {channels: 3, height: 32, width: 32}
          question: {max_length: 8}
        model:
          image: [conv: 8, relu]
          question: [embedding: 16, lstm: 16]
          head: [stacked_attention: {hops: 1, attention: 8}, linear: classes]
        train:
          epochs: 1
          mixup: true
        """,
        "bp.yaml:11:3: train.mixup: mixup blends images and their labels; a question belongs to "
        "one image, and its answer cannot be blended",
        at="mixup",
    ),
    case(
        "cutmix-with-cuda-graph",
        """
        name: cutgraph
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        data: {on_device: true}
        train:
          epochs: 1
          cuda_graph: true
          cutmix: true
        """,
        "bp.yaml:9:3: train.cutmix: the CUDA-graph step replays fixed label tensors; cutmix makes "
        "soft labels",
        at="cutmix",
    ),
    case(
        "cache-features-random-transforms",
        """
        name: cacherandom
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [vgg: {cfg: [8, M]}, flatten, linear: {out: classes, name: fc}]
        data:
          dataset: image_folder
          transforms: {train: [random_resized_crop], eval: [resize: 36, center_crop]}
        train:
          phases:
            - {epochs: 1, trainable: [fc], cache_features: true}
        """,
        "bp.yaml:10:36: train.phases[0].cache_features: the training transforms are random "
        "(random_resized_crop): the first module's outputs differ every epoch, so they cannot be "
        "computed once",
        at="cache_features",
    ),
    case(
        "cache-features-in-memory",
        """
        name: cachemnist
        input: {channels: 1, height: 28, width: 28}
        model:
          layers: [vgg: {cfg: [8, M]}, flatten, linear: {out: classes, name: fc}]
        data: {dataset: mnist}
        train:
          phases:
            - {epochs: 1, trainable: [fc], cache_features: true}
        """,
        "bp.yaml:8:36: train.phases[0].cache_features: mnist data are small images held in memory; "
        "the feature cache is for image files (image_folder, cub, vqa)",
        at="cache_features",
    ),
    case(
        "cache-features-of-a-module-that-trains",
        """
        name: cachetrains
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [vgg: {cfg: [8, M]}, flatten, linear: {out: classes, name: fc}]
        data:
          dataset: image_folder
          transforms: {train: [resize: [32, 32]], eval: [resize: [32, 32]]}
        train:
          phases:
            - {epochs: 1, frozen: [fc], cache_features: true}
        """,
        "bp.yaml:10:33: train.phases[0].cache_features: 'features' trains in this phase, so its "
        "outputs change with every step and cannot be cached",
        at="cache_features",
    ),
    case(
        "cache-features-of-a-function",
        """
        name: cacheflat
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: {out: classes, name: fc}]
        data:
          dataset: image_folder
          transforms: {train: [resize: [32, 32]], eval: [resize: [32, 32]]}
        train:
          phases:
            - {epochs: 1, trainable: [fc], cache_features: yes}
        """,
        "bp.yaml:10:36: train.phases[0].cache_features: the feature cache keeps the outputs of "
        "the model's first module, but its first layer (flatten) is not one module with parameters",
        at="cache_features",
    ),
    case(
        "export-unknown-format",
        """
        name: exportto
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train: {epochs: 1}
        export: [onnx, tflite]
        """,
        "bp.yaml:6:16: export[1]: unknown value 'tflite'; expected one of onnx, torch_export",
        at="tflite",
    ),
    # --- training features (issue 16) ---
    case(
        "ema-decay-of-one",
        """
        name: ema
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          ema: {decay: 1, every: 32}
        """,
        "bp.yaml:7:9: train.ema.decay: a decay of 1 keeps the first weights forever: the average "
        "would never move",
        at="decay: 1",
    ),
    case(
        "ema-not-a-setting",
        """
        name: ema
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          ema: yes please
        """,
        "bp.yaml:7:8: train.ema: expected true, a decay or {decay, every, warmup}, got the text "
        "'yes please'",
        at="ema:",
    ),
    case(
        "ema-decay-above-one",
        """
        name: ema
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          ema: 1.5
        """,
        "bp.yaml:7:8: train.ema: must be at most 1, got 1.5",
        at="ema: 1.5",
    ),
    case(
        "ema-misspelt-key",
        """
        name: ema
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          ema: {decay: 0.999, evry: 8}
        """,
        "bp.yaml:7:23: train.ema.evry: unknown key 'evry' in train.ema",
        at="evry",
    ),
    case(
        "grad-accum-steps-zero",
        """
        name: accum
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          grad_accum_steps: 0
        """,
        "bp.yaml:7:21: train.grad_accum_steps: must be at least 1, got 0",
        at="grad_accum_steps",
    ),
    case(
        "grad-accum-with-cuda-graph",
        """
        name: accum
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        data: {on_device: true}
        train:
          epochs: 1
          cuda_graph: true
          grad_accum_steps: 4
        """,
        "bp.yaml:9:3: train.grad_accum_steps: the CUDA-graph step is one whole optimizer step; it "
        "cannot add up the gradients of several batches",
        at="grad_accum_steps",
    ),
    case(
        "no-weight-decay-without-weight-decay",
        """
        name: decay
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          optimizer: {name: sgd, lr: 0.1}
          no_weight_decay: [bias]
        """,
        "bp.yaml:8:3: train.no_weight_decay: the optimizer has no weight decay, so there is none "
        "to leave out",
        at="no_weight_decay",
    ),
    case(
        "no-weight-decay-on-norm-without-norm-layers",
        """
        name: decay
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [conv: 8, relu, flatten, linear: classes]
        train:
          epochs: 1
          optimizer: {name: sgd, lr: 0.1, weight_decay: 1.0e-4}
          no_weight_decay: [norm, bias]
        """,
        "bp.yaml:8:3: train.no_weight_decay: the model has no normalisation layers, so `norm` "
        "leaves nothing out",
        at="no_weight_decay",
    ),
    case(
        "no-weight-decay-unknown-kind",
        """
        name: decay
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [conv: 8, batch_norm, relu, flatten, linear: classes]
        train:
          epochs: 1
          optimizer: {name: adamw, lr: 0.001}
          no_weight_decay: [norms]
        """,
        "bp.yaml:8:21: train.no_weight_decay[0]: unknown value 'norms'; expected one of norm, bias",
        at="norms",
    ),
    case(
        "sync-bn-without-batch-norm",
        """
        name: sync
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [conv: 8, relu, flatten, linear: classes]
        train:
          epochs: 1
          sync_bn: true
        """,
        "bp.yaml:7:3: train.sync_bn: the model has no batch norm layers, so there are no "
        "statistics to synchronise",
        at="sync_bn",
    ),
    case(
        "deterministic-not-a-boolean",
        """
        name: det
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          deterministic: 1
        """,
        "bp.yaml:7:18: train.deterministic: expected true or false, got int 1",
        at="deterministic",
    ),
    case(
        "tensorboard-not-a-boolean",
        """
        name: board
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          tensorboard: maybe
        """,
        "bp.yaml:7:16: train.tensorboard: expected true or false, got the text 'maybe'",
        at="tensorboard",
    ),
    case(
        "schedule-interval-unknown",
        """
        name: interval
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          schedule: {name: cosine, interval: iteration}
        """,
        "bp.yaml:7:38: train.schedule.interval: unknown value 'iteration'; expected one of epoch, "
        "step",
        at="iteration",
    ),
    case(
        "plateau-schedule-per-step",
        """
        name: interval
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          schedule: {name: cosine, interval: step}
          phases:
            - epochs: 1
            - epochs: 1
              schedule: plateau
        """,
        "bp.yaml:10:17: train.phases[1].schedule.name: the plateau schedule waits for the "
        "validation metric, once an epoch; train.schedule moves every optimizer step",
        at="plateau",
    ),
    case(
        "schedules-at-two-intervals",
        """
        name: interval
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          schedule: {name: cosine, interval: step}
          phases:
            - epochs: 1
            - epochs: 1
              schedule: {name: constant, interval: epoch}
        """,
        "bp.yaml:10:34: train.phases[1].schedule.interval: train.schedule moves every optimizer "
        "step; the schedules of one blueprint move at one interval",
        at="interval: epoch",
    ),
    case(
        "warmup-factor-without-warmup",
        """
        name: warmup
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          schedule: {name: cosine, warmup_factor: 0.01}
        """,
        "bp.yaml:7:28: train.schedule.warmup_factor: warmup_factor is where a warm-up starts, but "
        "this schedule has no warm-up",
        at="warmup_factor",
    ),
    case(
        "warmup-factor-zero",
        """
        name: warmup
        input: {channels: 3, height: 32, width: 32}
        model:
          layers: [flatten, linear: classes]
        train:
          epochs: 1
          schedule: {name: cosine, warmup_epochs: 2, warmup_factor: 0}
        """,
        "bp.yaml:7:61: train.schedule.warmup_factor: must be greater than 0, got 0",
        at="warmup_factor: 0",
    ),
]


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 45
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("text, expected, at, command", CASES)
def test_malformed_blueprint_is_refused_with_a_located_message(
    tmp_path, text, expected, at, command
):
    text = textwrap.dedent(text).lstrip("\n")
    (tmp_path / "bp.yaml").write_text(text, encoding="utf-8")
    dest = tmp_path / "out"
    if command == "new":
        done = run_scaffold("new", "--blueprint", "bp.yaml", "out", "--no-git", cwd=tmp_path)
    else:
        done = run_scaffold("validate", "bp.yaml", cwd=tmp_path)

    assert "Traceback" not in done.err, done.err
    assert done.code == 2, done.err
    assert done.out == ""
    lines = done.err.splitlines()
    assert lines, "no message"
    if expected.endswith(": "):
        assert lines[0].startswith(expected), done.err
    else:
        assert lines[0] == expected, done.err
    # every line is a located problem or the hint under one
    for line in lines:
        assert LOCATED.match(line) or line.startswith("  hint: "), done.err
    # the line number points at the line to fix
    line_number = int(LOCATED.match(lines[0]).group(1))
    source_lines = text.splitlines() or [""]
    assert 1 <= line_number <= len(source_lines), lines[0]
    if at is not None:
        assert at in source_lines[line_number - 1], (lines[0], source_lines[line_number - 1])
    # nothing was written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bp.yaml"]
    assert not dest.exists()


def test_a_module_named_like_a_dict_method_is_accepted(tmp_path):
    """`keys` is no builtin, so nothing shadows it: the name must be accepted."""
    (tmp_path / "bp.yaml").write_text(
        textwrap.dedent("""
            name: names
            input: {channels: 1, height: 8, width: 8}
            model:
              layers:
                - conv: {out: 4, name: keys}
                - flatten
                - linear: classes
            train: {epochs: 1}
            """),
        encoding="utf-8",
    )
    done = run_scaffold("validate", "bp.yaml", cwd=tmp_path)
    assert done.code == 0, done.err


def test_a_dilated_kernel_too_large_is_described_with_its_dilation(tmp_path):
    (tmp_path / "bp.yaml").write_text(
        textwrap.dedent("""
            name: dilated
            input: {channels: 3, height: 32, width: 32}
            model:
              layers:
                - conv: {out: 8, kernel: 3, dilation: 20}
                - flatten
                - linear: classes
            train: {epochs: 1}
            """).lstrip(),
        encoding="utf-8",
    )
    done = run_scaffold("validate", "bp.yaml", cwd=tmp_path)
    assert done.code == 2, done.err
    first = done.err.splitlines()[0]
    assert first.startswith("bp.yaml:5:7: model.layers[0] (conv)"), first
    assert "41x41" in first or "dilation" in first, first


@pytest.mark.parametrize(
    "text, hint",
    [
        (
            "name: x\nmodel:\n  layers: [flatten, linear: classes\n",
            "close it with ]",
        ),
        ("name: x\nmodel: {layers: [", "the file ends in the middle of a value"),
        (
            "name: x\ninput: {channels: 1, height: 8, width: 8}\nmodel: {layers: []}\n",
            "give at least 1 entry",
        ),
        (
            "name: x\ninput: {channels: 1, height: 8, width: 8}\n"
            "model: {layers: [flatten, linear: classes]}\ndata: {classes: [a, b, a]}\n",
            "rename or remove the repeated names",
        ),
    ],
    ids=["unclosed-bracket", "unclosed-at-the-end", "empty-layers", "repeated-class"],
)
def test_problems_without_an_obvious_fix_carry_a_hint(tmp_path, text, hint):
    (tmp_path / "bp.yaml").write_text(text, encoding="utf-8")
    done = run_scaffold("validate", "bp.yaml", cwd=tmp_path)
    assert done.code == 2 and f"  hint: {hint}" in done.err, done.err
