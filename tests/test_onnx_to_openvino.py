"""onnx_to_openvino: fp32 keeps fp32 weights, fp16 compresses them, int8 quantizes (NNCF, in the ALL run); the
runtime is told to compute in f32 and says so; every IR passes its precision's tolerance on the run's inputs."""
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from converters import onnx_to_openvino
from tests.conftest import infer

pytestmark = pytest.mark.xdist_group("all_run")


def _weight_types(ir_dir: str) -> set[str]:
    root = ET.parse(Path(ir_dir) / "model.xml").getroot()
    return {layer.find("data").get("element_type") for layer in root.iter("layer")
            if layer.get("type") == "Const" and layer.find("data") is not None}


@pytest.mark.parametrize("precision,expect", [("fp32", "f32"), ("fp16", "f16")])
def test_ir_weights_follow_precision(all_run, tmp_path, precision, expect):
    (ir,) = onnx_to_openvino.convert(all_run.artifact("simplify"), onnx_to_openvino.Options(precision=precision),
                                    all_run.step_inputs(), tmp_path)
    types = _weight_types(ir.path)
    assert expect in types and ir.meta["compressed_to_fp16"] is (precision == "fp16")
    if precision == "fp32":
        assert "f16" not in types  # save_model's default fp16 compression must be off for fp32
    outputs, info = infer(ir.seal(), all_run.dir / "inputs.npz", tmp_path / "infer")
    assert info.executed_precision == "fp32"  # told f32 explicitly (this CPU has no fp16 compute)
    assert info.settings["INFERENCE_PRECISION_HINT"] == "f32"
    report = all_run.check(ir, outputs)
    assert report.passed, report.failure_line()


def test_int8_ir_is_quantized_and_passes(all_run):
    ir = all_run.artifact("openvino")
    assert ir.precision == "int8" and "i8" in _weight_types(ir.path)
    assert ir.meta["quantization"].startswith("nncf ") and ir.meta["calibration_samples"] > 0
    row = all_run.bench("openvino")
    assert row.executed_precision == "int8+fp32"  # int8 layers, f32 for the rest (told f32 explicitly)
    assert all_run.parity("openvino").passed and all_run.parity("openvino").executed_precision == "int8+fp32"
