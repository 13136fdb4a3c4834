"""onnx_precision: int8 (static QDQ, in the ALL run) and fp16 (converted here, from the ALL run's simplified
ONNX) pass their precision's tolerance on the run's inputs; fp32 and bf16 are not applicable (recorded n/a in
a run: test_failure_isolation.py, test_sweep.py); the int8 defaults on a small detector-like head made here."""
import numpy as np
import onnx
import pytest

from converters import onnx_precision
from converters.int8 import quantize_onnxruntime
from converters.onnx_precision import Options
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact, TensorSpec
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
    (made,) = onnx_precision.convert(simplify, Options(precision="fp16"), StepInputs(), tmp_path)
    assert made.precision == "fp16" and made.inputs == simplify.inputs and made.outputs == simplify.outputs
    graph = onnx.load(made.path).graph
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in graph.initializer)
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # the batch stays float32
    outputs, info = infer(made.seal(), all_run.dir / "inputs.npz", tmp_path / "infer")
    assert info.runtime == "onnxruntime" and info.executed_precision == "fp16"
    report = all_run.check(made, outputs)
    assert report.passed, report.failure_line()
    assert report.outputs[0].max_abs > 0  # fp16 weights: not the fp32 numbers


@pytest.mark.parametrize("precision,why", [("fp32", "fp32 is the input ONNX itself"),
                                           ("bf16", "onnxruntime's CPU provider has no bf16 kernels")])
def test_fp32_and_bf16_are_not_applicable(all_run, tmp_path, precision, why):
    with pytest.raises(NotApplicable, match=why):
        onnx_precision.convert(all_run.artifact("simplify"), Options(precision=precision), StepInputs(), tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing written


def _head(path) -> Artifact:
    """A conv whose output splits into a 0..1 score (Sigmoid) and a pixel-scale box (Mul by 640), concatenated into
    one output as a detector's head does."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    scale = numpy_helper.from_array(np.array(640.0, dtype=np.float32), "scale")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["c"], ["score"], name="score"),
             helper.make_node("Mul", ["c", "scale"], ["box"], name="box"),
             helper.make_node("Concat", ["box", "score"], ["out"], name="cat", axis=1)]
    graph = helper.make_graph(nodes, "head", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8, 8, 8])],
                              [weight, scale])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return Artifact(name="head", format="onnx", path=str(path), precision="fp32",
                    inputs=[TensorSpec("x", [1, 3, 8, 8], "NCHW")], outputs=[TensorSpec("out", [1, 8, 8, 8])]).seal()


@pytest.mark.parametrize("float_tail", [True, False])
def test_int8_defaults_keep_the_ops_after_the_last_conv_float(tmp_path, float_tail):
    """The default float_tail leaves Sigmoid/Mul/Concat after the last Conv unquantized (boxes and scores keep
    their own ranges); the defaults are QDQ, u8 activations, s8 weights, per channel, reduce_range auto."""
    source = _head(tmp_path / "head.onnx")
    np.savez(tmp_path / "calibration.npz", x=np.random.default_rng(1).random((4, 1, 3, 8, 8), dtype=np.float32))
    run = StepInputs(calibration=str(tmp_path / "calibration.npz"))
    (tmp_path / "out").mkdir()
    (made,) = onnx_precision.convert(source, Options(precision="int8", float_tail=float_tail), run, tmp_path / "out")
    graph = onnx.load(made.path).graph
    quantized = {i for n in graph.node if n.op_type == "QuantizeLinear" for i in n.input}
    assert "c" in quantized  # the conv's output always is
    assert ({"score", "box", "out"} & quantized == set()) is float_tail
    assert made.meta["float_tail"] is float_tail and made.meta["float_nodes"] == (3 if float_tail else 0)
    assert made.meta["reduce_range"] is (not quantize_onnxruntime.has_vnni())  # auto: 7-bit only without VNNI
    assert (made.meta["activation_type"], made.meta["weight_type"], made.meta["per_channel"]) == \
        ("uint8", "int8", True)
    weights = [i for i in graph.initializer if i.name.startswith("w")]
    assert any(w.data_type == onnx.TensorProto.INT8 for w in weights)
