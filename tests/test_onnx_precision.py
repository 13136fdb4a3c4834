"""onnx_precision: fp16 and int8 ONNX for onnxruntime pass their tolerances; fp32/bf16 are recorded n/a."""
import onnx
import pytest

from tests.conftest import FAST


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_lower_precision_onnx_converts_and_passes_parity(convert, precision):
    proc, results = convert("+graph=openvino", *FAST, f"precision={precision}", "bench.enabled=false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lowp = next(a for a in results["artifacts"] if a["name"] == "onnx_lowp")
    assert lowp["precision"] == precision
    graph = onnx.load(lowp["path"]).graph
    if precision == "fp16":
        assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in graph.initializer)
    else:
        assert any(node.op_type == "QuantizeLinear" for node in graph.node)
        assert results["calibration"]["count"] > 0 and len(results["calibration"]["sha256"]) == 16
    check = next(p for p in results["parity"] if p["artifact"] == "onnx_lowp")
    assert check["passed"] and check["tolerance"] == results["config"]["validate"]["tolerances"][precision]


def test_fp32_is_not_applicable_and_not_a_failure(convert):
    proc, results = convert("+graph=openvino", *FAST, "bench.enabled=false")
    assert proc.returncode == 0
    step = next(s for s in results["steps"] if s["name"] == "onnx_lowp")
    assert step["status"] == "n/a" and "fp32" in step["reason"]
