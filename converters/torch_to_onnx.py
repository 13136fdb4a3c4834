"""torch -> ONNX with torch.onnx.export, at exactly the opset asked for.

torch 2.14 defaults to the dynamo exporter, which refuses opsets below 18 (it writes 18 after a failed
down-conversion). So `exporter: auto` picks the legacy TorchScript exporter below 18, dynamo from 18, and the
written opset is checked: a file at another opset than asked is an error, never a silent substitution.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from converters.step_io.feed_arrays import example
from converters.step_io.onnx_io import opset_of, tensor_specs
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact, TensorSpec
from core.errors import StepFailed
from core.feeds import Feed
from core.samples import output_batch_axes
from runtimes.torch import callable_module, load_torch

PACKAGES = ("torch", "onnx", "onnxscript")  # their versions are part of this step's cache key


@dataclass(frozen=True)
class Options:
    """graph.steps.<name> options and their defaults (conf/step/torch_to_onnx.yaml overrides them); checked with the
    config before anything runs."""

    opset: int = 17
    exporter: Literal["auto", "legacy", "dynamo"] = "auto"
    dynamic_batch: bool | None = None  # None: as the run needs (StepInputs.dynamic_batch)


DYNAMO_MIN_OPSET = 18


def choose_exporter(exporter: str, opset: int) -> str:
    if exporter == "auto":
        return "dynamo" if opset >= DYNAMO_MIN_OPSET else "legacy"
    if exporter == "dynamo" and opset < DYNAMO_MIN_OPSET:
        raise StepFailed(f"exporter=dynamo cannot write opset {opset} (it needs >= {DYNAMO_MIN_OPSET}); "
                         "use exporter=legacy or auto")
    return exporter


def convert(source: Artifact, options: Options, run: StepInputs, workdir: Path) -> list[Artifact]:
    import onnx
    import torch

    opset = options.opset
    exporter = choose_exporter(options.exporter, opset)
    loaded = load_torch(source.path, source.meta.get("loader", "pickle"))
    # dynamo takes an ExportedProgram as it is; the legacy (tracing) exporter needs something callable
    model = loaded if exporter == "dynamo" else callable_module(loaded)
    feeds = list(run.feeds)
    input_names = [f.name for f in feeds]
    output_names = [o.name for o in source.outputs]
    dynamic = run.dynamic_batch if options.dynamic_batch is None else options.dynamic_batch
    path = workdir / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation warning, once per run
        if exporter == "legacy":
            examples = tuple(torch.from_numpy(example(f)) for f in feeds)
            axes = batch_dims(feeds, source.outputs, run.state) if dynamic else None
            torch.onnx.export(model, examples, str(path), opset_version=opset, dynamo=False,
                              input_names=input_names, output_names=output_names, dynamic_axes=axes)
        else:
            if dynamic:  # torch.export silently specializes a size-1 example to 1: trace with a batch of 2
                feeds = [replace(f, shape=f.shape_at(2)) if f.batch == 1 else f for f in feeds]
            examples = tuple(torch.from_numpy(example(f)) for f in feeds)
            # one entry per positional argument (not keyed by the ONNX input name, which forward() does not know)
            batch = torch.export.Dim("batch", min=1)
            shapes = tuple({f.batch_axis: batch} if f.batch_axis is not None else None for f in feeds) \
                if dynamic else None
            torch.onnx.export(model, examples, str(path), opset_version=opset, dynamo=True,
                              input_names=input_names, output_names=output_names,
                              dynamic_shapes=shapes, external_data=False, optimize=True)
    onnx_model = onnx.load(str(path))
    written = opset_of(onnx_model)
    if written != opset:
        raise StepFailed(f"asked for opset {opset}, the {exporter} exporter wrote opset {written}")
    inputs, outputs = tensor_specs(onnx_model)
    return [Artifact(name="", format="onnx", path=str(path), inputs=inputs, outputs=outputs,
                     meta={"opset": written, "exporter": exporter, "torch": torch.__version__,
                           "nodes": len(onnx_model.graph.node), "dynamic_batch": dynamic})]


def batch_dims(feeds: list[Feed], outputs: list[TensorSpec], state: dict | None) -> dict[str, dict[int, str]]:
    """The legacy exporter's dynamic_axes: each input's batch axis, and each output's (axis 0, a state output's
    that of its state input; none for a rank-0 output), named "batch"."""
    axes = {f.name: {f.batch_axis: "batch"} for f in feeds if f.batch_axis is not None}
    found = output_batch_axes([o.name for o in outputs], state, {f.name: f.batch_axis for f in feeds})
    axes.update({o.name: {axis: "batch"} for o, axis in zip(outputs, found, strict=True)
                 if axis is not None and axis < len(o.shape)})
    return axes
