"""The runtime registry: every layer asks here what is true of a runtime (its format, label, packages, options,
Runner, bare loop, localisation hook). Adding a runtime = one module defining RUNTIME + one line below."""
from __future__ import annotations

from core.artifact import Artifact
from runtimes import onnxruntime, openvino, tensorflow, tflite, torch
from runtimes.base import Runner, Runtime, Settings
from runtimes.state import Stateful

# in the order tables list them: the reference first, then by install size
REGISTRY: dict[str, Runtime] = {m.RUNTIME.name: m.RUNTIME for m in (torch, onnxruntime, openvino, tensorflow, tflite)}
_BY_FORMAT = {r.format: r for r in REGISTRY.values()}
NAMES = tuple(REGISTRY)
# what computes every runtime's outputs on given inputs besides its own module: runtimes.infer and what it calls
SHARED_CODE = ("runtimes", "runtimes.base", "runtimes.matching", "runtimes.infer", "runtimes.infer_protocol",
               "runtimes.state", "core.samples", "core.child_protocol")


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


def slow_import(fmt: str | None) -> str | None:
    """The library, slow to import, that a child loading an artifact of this format imports (such a child may
    start warm: pipeline/warm_start.py), or None."""
    runtime = _BY_FORMAT.get(fmt or "")
    return runtime.warm_import if runtime else None


def label(name: str | None) -> str:
    """'OpenVINO' for 'openvino'; an unknown name as it is."""
    runtime = REGISTRY.get(name or "")
    return runtime.label if runtime else str(name)


def outputs_code(runtime: Runtime) -> tuple[str, ...]:
    """The modules whose source decides what `runtime` outputs on given inputs: a change to one of them must not
    reuse outputs memoised before it (pipeline.checks)."""
    return (*SHARED_CODE, runtime.module)


def all_packages() -> tuple[str, ...]:
    """Every registered runtime's packages, once each, in the registry's order."""
    return tuple(dict.fromkeys(package for runtime in REGISTRY.values() for package in runtime.packages))


def load(artifact: Artifact, settings: Settings) -> Runner:
    """The artifact's runner; with settings.state, one that feeds its state outputs back (runtimes/state.py)."""
    runner = for_format(artifact.format).runner(artifact, settings)
    if settings.state:
        return Stateful(runner, [spec.name for spec in artifact.outputs], settings.state)
    return runner


def batch_refusal(artifact: Artifact, batch: int, batch_axes: dict[str, int | None] | None = None) -> str:
    """Why `artifact` cannot run `batch` items at once, or '' when it can: an exported graph takes the batch it
    was exported with, or any when its batch axis is dynamic. A fixed batch is never reshaped here: shapes
    folded into the graph (a head's Reshape to [1, ...]) could run and be wrong. batch_axes: each input's batch
    axis (default: axis 0 of the first input)."""
    axes = batch_axes if batch_axes is not None else {s.name: 0 for s in artifact.inputs[:1]}
    batched = [(s, axes[s.name]) for s in artifact.inputs if axes.get(s.name) is not None and s.shape]
    if not batched and batch_axes is not None:
        return "no input has a batch axis (name one: input.batch_axes={NAME: AXIS})"
    if not batched or for_format(artifact.format).takes_any_batch(artifact):
        return ""
    fixed = batched[0][0].shape[batched[0][1]]
    if fixed < 0 or fixed == batch:
        return ""
    return f"input batch fixed at {fixed} (a dynamic batch axis: graph.steps.export.dynamic_batch=true)"
