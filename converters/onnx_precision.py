"""ONNX -> ONNX in the run's lower precision, for onnxruntime.

fp16: weights and compute in float16 (inputs/outputs stay float32 so every runtime takes the same batch).
int8: onnxruntime static quantization in QDQ format, calibrated on the run's calibration images.
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
    reduce_range: bool = True  # int8: 7-bit weights, avoids u8*s8 saturation on CPUs without VNNI


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
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    samples = calibration(options)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter(samples)

        def get_next(self):
            return next(self.samples, None)

    # Without VNNI, u8 x s8 products can saturate: reduce_range keeps weights to 7 bits (ORT's advice).
    reduce_range = bool(options.get("reduce_range", True))
    quantize_static(source.path, str(path), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=bool(options.get("per_channel", True)), reduce_range=reduce_range,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return {"quantization": "onnxruntime static QDQ", "calibration_samples": len(samples),
            "reduce_range": reduce_range}
