"""Conversion steps. One module per step kind, named like its YAML in conf/step/ and its test.

A step converts only (no timing, no parity) and imports its heavy backend inside `convert`.
"""
import importlib
from dataclasses import MISSING, fields

# step kind -> artifact formats it accepts as input (None: a source step that starts the graph)
ACCEPTED_FORMATS: dict[str, tuple[str, ...] | None] = {
    "torch_model": None,
    "onnx_file": None,
    "torch_file": None,
    "torch_to_onnx": ("torch",),
    "torch_to_litert": ("torch",),
    "onnx_simplify": ("onnx",),
    "onnx_to_openvino": ("onnx",),
    "onnx_precision": ("onnx",),
    "onnx_to_tf": ("onnx",),
    "tf_to_tflite": ("tf_savedmodel",),
}


# step kind -> the library, slow to import, that it imports (its child may start warm: pipeline/warm_start.py)
SLOW_IMPORT = {"torch_model": "torch", "torch_file": "torch", "torch_to_onnx": "torch", "torch_to_litert": "torch",
               "onnx_to_tf": "tensorflow", "tf_to_tflite": "tensorflow"}

# model.source -> the source step that makes the graph's first artifact
SOURCE_STEP = {"builtin": "torch_model", "torchvision": "torch_model", "ultralytics": "torch_model",
               "transformers": "torch_model",
               "onnx_file": "onnx_file", "torch_file": "torch_file"}


def step_module(kind: str):
    """The module of a step kind. A dotted kind (`mypkg.my_step`) is a user's own step module: it must
    define `convert(source, options, run, workdir) -> list[Artifact]` like the steps here (without an `Options`
    dataclass its options come as the dict the config gave)."""
    if "." in kind:
        return importlib.import_module(kind)
    if kind not in ACCEPTED_FORMATS:
        raise KeyError(kind)
    return importlib.import_module(f"converters.{kind}")


def step_options(module, options: dict):
    """A step's options as its kind's `Options`, built from the checked config (pipeline.config refused unknown
    keys already); a user's module without `Options` gets the dict."""
    declared = getattr(module, "Options", None)
    return declared(**options) if declared is not None else dict(options)


def option_defaults(kind: str) -> dict:
    """A graph step kind's options with their defaults, from its `Options` (the one place they are written):
    conf/step/<kind>.yaml only overrides them."""
    made = {}
    for option in fields(step_module(kind).Options):
        if option.default is not MISSING:
            made[option.name] = option.default
        elif option.default_factory is not MISSING:
            made[option.name] = option.default_factory()
    return made
