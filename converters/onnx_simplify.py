"""ONNX -> simplified ONNX with onnxsim; records node counts before/after and whether its check passed."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from converters.failures.failure_site import converting
from converters.step_io.onnx_io import opset_of, tensor_specs
from converters.step_io.onnxsim_import import import_onnxsim
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact
from core.errors import StepFailed

PACKAGES = ("onnx", "onnxsim")  # their versions are part of this step's cache key


@dataclass(frozen=True)
class Options:
    """graph.steps.<name> options and their defaults (conf/step/onnx_simplify.yaml overrides them); checked with the
    config before anything runs."""

    check_n: int = 3  # onnxsim's own random-input checks of the simplified model


def convert(source: Artifact, options: Options, run: StepInputs, workdir: Path) -> list[Artifact]:
    import onnx

    onnxsim = import_onnxsim()
    model = onnx.load(source.path)
    before = len(model.graph.node)
    shapes = input_shapes(source, run)
    with converting("onnxsim", source.path):
        simplified, check_ok = onnxsim.simplify(model, check_n=options.check_n, **shapes)
    if not check_ok:
        raise StepFailed("onnxsim's own check of the simplified model failed")
    path = workdir / "model.onnx"
    onnx.save(simplified, str(path))
    inputs, outputs = tensor_specs(simplified)
    return [Artifact(name="", format="onnx", path=str(path), inputs=inputs, outputs=outputs,
                     meta={**source.meta, "opset": opset_of(simplified), "nodes_before": before,
                           "nodes": len(simplified.graph.node), "onnxsim_check": check_ok,
                           "onnxsim": onnxsim.__version__, **({"onnxsim_shapes": shapes} if shapes else {})})]


def input_shapes(source: Artifact, run: StepInputs) -> dict:
    """onnxsim refuses inputs with dynamic dimensions unless it is given their shapes: the run's bound shapes.
    Only dynamic batch axes that the run keeps (bench.batch) stay dynamic (onnxsim then checks at the bound
    shape); any other dynamic dimension is fixed, so the converters after it see a static model."""
    dynamic = {s.name: s.shape for s in source.inputs if any(d < 0 for d in s.shape)}
    if not dynamic:
        return {}
    feeds = {f.name: f for f in run.feeds}
    bound = {name: list(feed.shape) for name, feed in feeds.items() if name in dynamic}
    batch_only = all(all(d > 0 for axis, d in enumerate(shape) if name not in feeds or axis != feeds[name].batch_axis)
                     for name, shape in dynamic.items())
    if run.dynamic_batch and batch_only:
        return {"test_input_shapes": bound}
    return {"overwrite_input_shapes": bound}
