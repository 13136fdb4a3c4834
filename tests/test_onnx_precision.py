"""onnx_precision: int8 (static QDQ, in the ALL run) and fp16 (converted here, from the ALL run's simplified
ONNX) pass their precision's tolerance on the run's inputs; fp32 and bf16 are not applicable (recorded n/a in
a run: test_failure_isolation.py, test_sweep.py)."""
import onnx
import pytest

from converters import onnx_precision
from core.errors import NotApplicable
from tests.conftest import infer

pytestmark = pytest.mark.xdist_group("all_run")


def test_int8_is_static_qdq_calibrated_on_the_recorded_images(all_run):
    lowp = all_run.artifact("onnx_lowp")
    assert lowp.precision == "int8" and lowp.meta["quantization"] == "onnxruntime static QDQ"
    graph = onnx.load(lowp.path).graph
    assert any(node.op_type == "QuantizeLinear" for node in graph.node)
    assert any(node.op_type == "DequantizeLinear" for node in graph.node)
    calibration = all_run.results.calibration
    assert calibration["count"] > 0 and len(calibration["sha256"]) == 16
    assert lowp.meta["calibration_samples"] == calibration["count"]
    check = all_run.parity("onnx_lowp")
    assert check.passed and check.tolerance == all_run.tolerance("int8")
    assert all_run.bench("onnx_lowp").executed_precision == "int8"


def test_fp16_converts_and_passes_the_fp16_tolerance(all_run, tmp_path):
    simplify = all_run.artifact("simplify")
    (made,) = onnx_precision.convert(simplify, {"precision": "fp16"}, tmp_path)
    assert made.precision == "fp16" and made.inputs == simplify.inputs and made.outputs == simplify.outputs
    graph = onnx.load(made.path).graph
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in graph.initializer)
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # the batch stays float32
    outputs, info = infer(made.seal(), all_run.dir / "inputs.npz", tmp_path / "infer")
    assert info["runtime"] == "onnxruntime" and info["executed_precision"] == "fp16"
    report = all_run.check(made, outputs)
    assert report.passed, report.failure_line()
    assert report.outputs[0].max_abs > 0  # fp16 weights: not the fp32 numbers


@pytest.mark.parametrize("precision,why", [("fp32", "fp32 is the input ONNX itself"),
                                           ("bf16", "onnxruntime's CPU provider has no bf16 kernels")])
def test_fp32_and_bf16_are_not_applicable(all_run, tmp_path, precision, why):
    with pytest.raises(NotApplicable, match=why):
        onnx_precision.convert(all_run.artifact("simplify"), {"precision": precision}, tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing written
