"""ONNX -> OpenVINO IR (model.xml + model.bin) with openvino.convert_model and save_model.

save_model compresses weights to fp16 by default; fp32 keeps them fp32 (compress_to_fp16=False).
bf16 keeps fp32 weights (the runtime is told to execute in bf16); int8 is NNCF post-training quantization
calibrated on the run's calibration samples, accuracy-aware by default (converters/int8/quantize_openvino.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from converters.failures.failure_site import converting
from converters.int8.quantize_openvino import quantize_int8
from converters.int8.search import AccuracyAware
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact, TensorSpec
from core.errors import StepFailed

PACKAGES = ("openvino", "nncf")  # their versions are part of this step's cache key
DEPENDS_ON_CPU = True  # int8 times its candidates and runs bf16 where this CPU has it: the key carries its ISA
# the modules the int8 file depends on besides this one: the quantizer, the search and its judge
CODE = ("converters.int8.quantize_openvino", "converters.int8.search", "converters.step_io.feed_arrays",
        "runtimes.openvino", "validators.task_metrics")  # runtimes.openvino: the precision hint the search times


@dataclass(frozen=True)
class Options(AccuracyAware):
    """graph.steps.<name> options and their defaults (conf/step/onnx_to_openvino.yaml overrides them); checked with the
    config before anything runs."""

    # int8, accuracy-aware (converters.int8.search.AccuracyAware): NNCF's accuracy control keeps the layers that cost
    # the most agreement in float
    precision: Literal["fp32", "fp16", "bf16", "int8"] = "fp32"
    # int8: NNCF's preset, how activations are quantized. auto: NNCF's own choice (performance, symmetric, for a
    # CNN), or, when the accuracy-aware search judges, whichever of performance, mixed (asymmetric) agrees best
    preset: Literal["auto", "performance", "mixed"] = "auto"
    # int8: what the layers left in float execute in (the IR records it; the runtime asks for it). auto: bf16 when
    # this CPU computes bf16 natively and the accuracy-aware judge finds it meets the target and faster; else fp32
    float_part: Literal["auto", "fp32", "bf16"] = "auto"


WEIGHT_PRECISION = {"fp32": False, "bf16": False, "fp16": True, "int8": False}


def convert(source: Artifact, options: Options, run: StepInputs, workdir: Path) -> list[Artifact]:
    import openvino as ov

    precision = options.precision
    if precision not in WEIGHT_PRECISION:
        raise StepFailed(f"precision={precision!r} is not produced by this step; it makes "
                         f"{', '.join(WEIGHT_PRECISION)}")
    with converting("OpenVINO", source.path):
        model = ov.convert_model(source.path)
        fixed = static_shapes(source, run)
        if fixed:
            model.reshape(fixed)
    meta = {"reshaped": fixed} if fixed else {}
    if precision == "int8":
        with converting("NNCF", source.path):
            model, quantization = quantize_int8(model, source, options, run)
        meta.update(quantization)
    out_dir = workdir / "ir"
    out_dir.mkdir()
    ov.save_model(model, str(out_dir / "model.xml"), compress_to_fp16=WEIGHT_PRECISION[precision])

    def spec(port, like: TensorSpec) -> TensorSpec:
        shape = [d.get_length() if d.is_static else -1 for d in port.get_partial_shape()]
        return TensorSpec(like.name, shape, like.layout, like.dtype)

    inputs = [spec(p, s) for p, s in zip(model.inputs, source.inputs, strict=True)]
    outputs = [spec(p, s) for p, s in zip(model.outputs, source.outputs, strict=True)]
    return [Artifact(name="", format="openvino", path=str(out_dir), precision=precision,
                     inputs=inputs, outputs=outputs,
                     meta={"openvino": ov.__version__, "compressed_to_fp16": WEIGHT_PRECISION[precision],
                           "opset": source.meta.get("opset"), **meta})]


def static_shapes(source: Artifact, run: StepInputs) -> dict[str, list[int]]:
    """The run's bound shapes for the inputs with dynamic dimensions (a static IR compiles to faster code); the
    batch axis stays dynamic when the run keeps it (bench.batch)."""
    keep_batch = run.dynamic_batch
    fixed = {}
    for feed in run.feeds:
        declared = next((s.shape for s in source.inputs if s.name == feed.name), None)
        if declared is None or all(d > 0 for d in declared):
            continue
        shape, axis = list(feed.shape), feed.batch_axis
        if keep_batch and axis is not None and declared[axis] < 0:
            shape[axis] = -1
        if any(d < 0 for i, d in enumerate(declared) if i != axis) or not keep_batch:
            fixed[feed.name] = shape
    return fixed
