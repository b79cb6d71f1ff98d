"""Names a blueprint may not give to the generated code, and why.

Blueprint values that become Python identifiers (the model class, module attributes, the package)
must be identifiers, must not be keywords, and must not shadow what the generated code itself
uses: Python's builtins, the names defined or imported by the generated modules, and the
attributes of nn.Module.
"""

from __future__ import annotations

import builtins
import keyword

BUILTINS = frozenset(dir(builtins))

# Module-level names defined or imported by the generated modules (model.py, train.py, data.py,
# evaluate.py, bench.py, tests), besides the helpers and constants of model.py's blocks: those
# depend on the blocks a model uses, and the planner checks the class name against them. Keep in
# step with templates/.
GENERATED_NAMES = frozenset("""
    torch nn F math load_pretrained
    BLUEPRINT DEFAULT_CONFIG DistributedDataParallel Epoch GraphedStep NonFiniteLoss Path Run Stop
    add_totals argparse checkpoint contextlib data dataclass dist evaluate field
    freeze_norm_statistics load_config main make_optimizer make_schedule model_inputs os
    parse_args random set_trainable signal start_run sys time tqdm train_epoch yaml csv
    load_checkpoint plot_confusion report_classes report_vqa FlopCounterMode end_to_end json
    matmul_peak print_table statistics summary synchronize timed inputs SIZE PARAMETERS pytest
    """.split())

# Attributes of nn.Module: a submodule stored under one of these names is hidden behind the method
# (`self.half(x)` calls Module.half), or breaks the module outright.
NN_MODULE_ATTRIBUTES = frozenset("""
    forward training parameters named_parameters buffers named_buffers children named_children
    modules named_modules train eval to cuda cpu type float double half bfloat16 state_dict
    load_state_dict apply zero_grad requires_grad_ register_buffer register_parameter
    register_module add_module get_submodule set_submodule get_parameter get_buffer extra_repr
    dump_patches call_super_init compile share_memory ipu xpu mtia to_empty set_extra_state
    get_extra_state register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_backward_hook register_load_state_dict_pre_hook
    register_load_state_dict_post_hook register_state_dict_pre_hook register_state_dict_post_hook
    T_destination
    """.split())

# The names above, and those a generated model's __init__ and forward() use for its arguments and
# tensors: a module name the user gives must be none of them.
MODULE_ATTRIBUTES = NN_MODULE_ATTRIBUTES | frozenset("""
    num_classes vocab_size self super x v q u image question lengths attention return_attention
    hops
    """.split())

# Modules a generated package imports or is imported beside: naming the package like one of them
# would shadow it.
IMPORTED_MODULES = frozenset(
    "torch torchvision yaml tqdm matplotlib numpy PIL copy json math os sys time random "
    "signal shutil tempfile pathlib argparse collections dataclasses contextlib typing re io "
    "csv logging warnings functools itertools string test tests setuptools pip site".split()
)


def keyword_problem(name: str) -> str:
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"'{name}' is a Python keyword"
    return ""


def class_name_problem(name: str) -> str:
    """Why `name` cannot be the generated model class, or ""."""
    if problem := keyword_problem(name):
        return problem
    if name in BUILTINS:
        return f"'{name}' would shadow the Python builtin of that name"
    if name in GENERATED_NAMES:
        return f"'{name}' is a name the generated code uses already"
    return ""


def module_name_problem(name: str) -> str:
    """Why `name` cannot be a module attribute of the generated model, or ""."""
    if problem := keyword_problem(name):
        return problem
    if name in MODULE_ATTRIBUTES:
        return f"'{name}' is used by nn.Module or by the generated code"
    if name in BUILTINS:
        return f"'{name}' would shadow the Python builtin of that name"
    if name.startswith("_"):
        return "module names cannot start with an underscore"
    return ""


def derived_name_problem(name: str) -> str:
    """Why a module cannot be named after its kind (`name` is a block's kind), or "": a kind
    that is a keyword or an attribute of nn.Module gets a number instead (`half1`)."""
    if problem := keyword_problem(name):
        return problem
    if name in NN_MODULE_ATTRIBUTES:
        return f"'{name}' is an attribute of nn.Module"
    return ""


def package_name_problem(name: str) -> str:
    """Why `name` cannot be the generated package, or ""."""
    if not name.isidentifier() or not name.isascii():
        return (
            f"'{name}' is not a valid Python package name "
            "(ASCII letters, digits and _, not starting with a digit)"
        )
    if problem := keyword_problem(name):
        return problem
    if name in IMPORTED_MODULES or name in BUILTINS:
        return f"'{name}' would shadow the module or builtin of that name"
    if name.startswith("_"):
        return "a package name should not start with an underscore"
    return ""
