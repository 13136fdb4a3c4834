"""The runtime registry: every layer asks here what is true of a runtime (its format, label, packages, options,
Runner, bare loop, localisation hook). Adding a runtime = one module defining RUNTIME + one line below."""
from __future__ import annotations

from core.artifact import Artifact
from runtimes import onnxruntime, openvino, tensorflow, tflite, torch
from runtimes.base import Runner, Runtime, Settings

# in the order tables list them: the reference first, then by install size
REGISTRY: dict[str, Runtime] = {m.RUNTIME.name: m.RUNTIME for m in (torch, onnxruntime, openvino, tensorflow, tflite)}
_BY_FORMAT = {r.format: r for r in REGISTRY.values()}
NAMES = tuple(REGISTRY)


def get(name: str) -> Runtime:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a runtime; known: {', '.join(REGISTRY)}") from None


def for_format(fmt: str) -> Runtime:
    """The runtime that runs artifacts of this format."""
    try:
        return _BY_FORMAT[fmt]
    except KeyError:
        raise ValueError(f"no runtime runs format {fmt!r}; known formats: {', '.join(_BY_FORMAT)}") from None


def label(name: str | None) -> str:
    """'OpenVINO' for 'openvino'; an unknown name as it is."""
    runtime = REGISTRY.get(name or "")
    return runtime.label if runtime else str(name)


def load(artifact: Artifact, settings: Settings) -> Runner:
    return for_format(artifact.format).runner(artifact, settings)


def batch_refusal(artifact: Artifact, batch: int) -> str:
    """Why `artifact` cannot run `batch` images at once, or '' when it can: an exported graph takes the batch it
    was exported with, or any when its batch axis is dynamic. A fixed batch is never reshaped here: shapes
    folded into the graph (a head's Reshape to [1, ...]) could run and be wrong."""
    if for_format(artifact.format).takes_any_batch(artifact):
        return ""
    fixed = artifact.inputs[0].shape[0] if artifact.inputs and artifact.inputs[0].shape else -1
    if fixed < 0 or fixed == batch:
        return ""
    return f"input batch fixed at {fixed} (a dynamic batch axis: graph.steps.export.dynamic_batch=true)"
