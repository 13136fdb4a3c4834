"""ONNX -> ONNX in the run's lower precision, for onnxruntime.

fp16: weights and compute in float16 (inputs/outputs stay float32 so every runtime takes the same batch).
int8: onnxruntime static quantization in QDQ format, calibrated on the run's calibration images. The defaults
are the fastest variant measured on this machine kind (tools/int8_variants.py; README, "Precision"): u8
activations x s8 weights, the pair ORT's x86 kernels (VNNI) fuse into QLinearConv; s8 x s8 or u8 x u8 fall back
to float or slower kernels. Per-channel weight scales and 8-bit weights (7-bit only where the CPU lacks VNNI)
cost nothing in speed; the ops after the last Conv/Gemm/MatMul stay float so that outputs of different
ranges concatenated into one tensor (a detector's boxes and scores) keep their own precision.
fp32 is the input itself and onnxruntime's CPU provider has no bf16 kernels: both are "not applicable".
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from converters.samples import calibration
from core.artifact import Artifact
from core.errors import NotApplicable, StepFailed

PACKAGES = ("onnx", "onnxruntime")  # their versions are part of this step's cache key


@dataclass(frozen=True)
class Options:
    """graph.steps.<name> options (conf/step/onnx_precision.yaml), checked with the config before anything runs."""

    precision: Literal["fp32", "fp16", "bf16", "int8"] = "fp32"
    per_channel: bool = True  # int8: one scale per output channel of each weight
    # int8: 7-bit weights; avoids u8*s8 saturation on CPUs without VNNI. auto: true only where the CPU converting
    # (the one the cache serves) lacks VNNI (avx512_vnni, avx_vnni, amx_int8)
    reduce_range: bool | Literal["auto"] = "auto"
    quant_format: Literal["QDQ", "QOperator"] = "QDQ"  # int8: Q/DQ pairs (ORT fuses them), or QLinear* ops
    activation_type: Literal["uint8", "int8"] = "uint8"  # int8: activations' 8-bit type
    weight_type: Literal["int8", "uint8"] = "int8"  # int8: weights' 8-bit type
    float_tail: bool = True  # int8: the ops after the last Conv/Gemm/MatMul before each output stay float


def convert(source: Artifact, options: dict, workdir: Path) -> list[Artifact]:
    precision = options["precision"]
    if precision == "fp32":
        raise NotApplicable("fp32 is the input ONNX itself")
    if precision == "bf16":
        raise NotApplicable("onnxruntime's CPU provider has no bf16 kernels")
    path = workdir / "model.onnx"
    meta = {**source.meta}
    if precision == "fp16":
        _to_fp16(source, path)
    elif precision == "int8":
        meta.update(_quantize_int8(source, path, options))
    else:
        raise StepFailed(f"precision={precision!r}: this step makes fp16 and int8")
    return [Artifact(name="", format="onnx", path=str(path), precision=precision, inputs=source.inputs,
                     outputs=source.outputs, meta=meta)]


def _to_fp16(source: Artifact, path: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(source.path), keep_io_types=True)
    onnx.save(model, str(path))


def _quantize_int8(source: Artifact, path: Path, options: dict) -> dict:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    samples = calibration(options)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter(samples)

        def get_next(self):
            return next(self.samples, None)

    given = {**vars(Options()), **options}
    types = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    excluded = tail_nodes(onnx.load(source.path, load_external_data=False).graph) if given["float_tail"] else []
    if given["reduce_range"] == "auto":
        given["reduce_range"] = not has_vnni()
    quantize_static(source.path, str(path), Reader(), quant_format=getattr(QuantFormat, given["quant_format"]),
                    per_channel=bool(given["per_channel"]), reduce_range=bool(given["reduce_range"]),
                    activation_type=types[given["activation_type"]], weight_type=types[given["weight_type"]],
                    nodes_to_exclude=excluded)
    return {"quantization": f"onnxruntime static {given['quant_format']}", "calibration_samples": len(samples),
            **{k: given[k] for k in ("per_channel", "reduce_range", "activation_type", "weight_type", "float_tail")},
            "float_nodes": len(excluded)}


COMPUTE = {"Conv", "ConvTranspose", "Gemm", "MatMul"}
VNNI = {"avx512_vnni", "avx_vnni", "amx_int8"}


def has_vnni() -> bool:
    """The CPU has u8 x s8 dot-product instructions (no int16 saturation): /proc/cpuinfo's flags (Linux);
    elsewhere assumed not, which only costs the 8th weight bit."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(line.startswith("flags") and VNNI & set(line.split()) for line in text.splitlines())


def tail_nodes(graph) -> list[str]:
    """The nodes on the paths from each graph output back to the nearest Conv/Gemm/MatMul: left in float, so that
    outputs of different ranges (a detector's boxes in pixels and its scores in 0..1, concatenated into one
    tensor) do not share one 8-bit scale."""
    producer = {out: node for node in graph.node for out in node.output}
    seen, stack = {}, [output.name for output in graph.output]
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in seen or node.op_type in COMPUTE:
            continue
        seen[node.name] = node
        stack.extend(node.input)
    return list(seen)
