"""ONNX -> ONNX in the run's lower precision, for onnxruntime.

fp16: weights and compute in float16 (inputs/outputs stay float32 so every runtime takes the same batch).
int8: onnxruntime static quantization in QDQ format, calibrated on the run's calibration images. The defaults
are the fastest variant measured on this machine kind (tools/int8_variants.py; README, "Precision"): u8
activations x s8 weights, the pair ORT's x86 kernels (VNNI) fuse into QLinearConv; s8 x s8 or u8 x u8 fall back
to float or slower kernels. Per-channel weight scales and 8-bit weights (7-bit only where the CPU lacks VNNI)
cost nothing in speed; the ops after the last Conv/Gemm/MatMul stay float so that outputs of different
ranges concatenated into one tensor (a detector's boxes and scores) keep their own precision.
Accuracy-aware by default: converters/int8/quantize_onnxruntime.py keeps in float the nodes that cost the most
agreement.
fp32 is the input itself and onnxruntime's CPU provider has no bf16 kernels: both are "not applicable".
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from converters.failures.failure_site import converting
from converters.int8.quantize_onnxruntime import quantize_int8
from converters.int8.search import BudgetedSearch
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact
from core.errors import NotApplicable, StepFailed

PACKAGES = ("onnx", "onnxruntime")  # their versions are part of this step's cache key
DEPENDS_ON_CPU = True  # its int8 search times candidates on this CPU: the key carries its instruction sets
# the modules the int8 file depends on besides this one: the quantizer, the search and its judge
CODE = ("converters.int8.quantize_onnxruntime", "converters.int8.onnx_rewrites", "converters.int8.onnx_graph",
        "converters.int8.qdq_scalars",
        "converters.int8.search", "converters.step_io.feed_arrays",
        "converters.step_io.onnx_io", "runtimes.onnxruntime", "runtimes.profiling", "validators.task_metrics")


@dataclass(frozen=True)
class Options(BudgetedSearch):
    """graph.steps.<name> options and their defaults (conf/step/onnx_precision.yaml overrides them); checked with the
    config before anything runs."""

    precision: Literal["fp32", "fp16", "bf16", "int8"] = "fp32"
    per_channel: bool = True  # int8: one scale per output channel of each weight
    # int8: 7-bit weights; avoids u8*s8 saturation on CPUs without VNNI. auto: true only where the CPU converting
    # (the one the cache serves) lacks VNNI (avx512_vnni, avx_vnni, amx_int8)
    reduce_range: bool | Literal["auto"] = "auto"
    quant_format: Literal["QDQ", "QOperator"] = "QDQ"  # int8: Q/DQ pairs (ORT fuses them), or QLinear* ops
    activation_type: Literal["uint8", "int8"] = "uint8"  # int8: activations' 8-bit type
    weight_type: Literal["int8", "uint8"] = "int8"  # int8: weights' 8-bit type
    float_tail: bool = True  # int8: the ops after the last Conv/Gemm/MatMul before each output stay float
    # int8: how activation ranges are read from the calibration samples. auto: min-max, or, when the accuracy-aware
    # search judges, whichever of minmax, percentile, entropy agrees best (converters.int8.quantize_onnxruntime)
    calibration: Literal["auto", "minmax", "percentile", "entropy"] = "auto"
    # int8, accuracy-aware (converters.int8.search.BudgetedSearch): keep the nodes that add the most error in float


def convert(source: Artifact, options: Options, run: StepInputs, workdir: Path) -> list[Artifact]:
    precision = options.precision
    if precision == "fp32":
        raise NotApplicable("fp32 is the input ONNX itself")
    if precision == "bf16":
        raise NotApplicable("onnxruntime's CPU provider has no bf16 kernels")
    path = workdir / "model.onnx"
    meta = {**source.meta}
    if precision == "fp16":
        with converting("onnxruntime's float16 converter", source.path):
            _to_fp16(source, path)
    elif precision == "int8":
        with converting("onnxruntime quantization", source.path):
            meta.update(quantize_int8(source, path, options, run))
    else:
        raise StepFailed(f"precision={precision!r}: this step makes fp16 and int8")
    return [Artifact(name="", format="onnx", path=str(path), precision=precision, inputs=source.inputs,
                     outputs=source.outputs, meta=meta)]


def _to_fp16(source: Artifact, path: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(source.path), keep_io_types=True)
    onnx.save(model, str(path))
