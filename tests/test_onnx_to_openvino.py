"""onnx_to_openvino: fp32 keeps fp32 weights, fp16 compresses them, int8 quantizes; the runtime says what it ran."""
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import FAST


def _weight_types(ir_dir: str) -> set[str]:
    root = ET.parse(Path(ir_dir) / "model.xml").getroot()
    return {layer.find("data").get("element_type") for layer in root.iter("layer")
            if layer.get("type") == "Const" and layer.find("data") is not None}


@pytest.mark.parametrize("precision,expect", [("fp32", "f32"), ("fp16", "f16"), ("int8", "i8")])
def test_ir_weights_follow_precision(convert, precision, expect):
    proc, results = convert("+graph=openvino", *FAST, f"precision={precision}", "bench.runs=2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ir = next(a for a in results["artifacts"] if a["name"] == "openvino")
    types = _weight_types(ir["path"])
    assert expect in types
    if precision == "fp32":
        assert "f16" not in types  # save_model's default fp16 compression must be off for fp32
    row = next(b for b in results["bench"] if b["artifact"] == "openvino")
    assert row["executed_precision"].endswith("fp32")  # told f32 explicitly (this CPU has no fp16 compute)
    assert next(p for p in results["parity"] if p["artifact"] == "openvino")["passed"]
