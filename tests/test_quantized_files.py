"""A file that is already quantized stays judged as what it is: its integer ops are found (ONNX's and onnxruntime's
com.microsoft ones, in subgraphs too), the source artifact records `quantized`, what is converted from it is judged
at the int8 tolerances and floor with a note, and onnx2tf's missing converter for an op is said in one line."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from converters.onnx_to_tf import _error_line
from converters.step_io.onnx_io import quantization_ops

RNG = np.random.default_rng(0)


def _save(nodes, inputs, outputs, weights: dict, path: Path, extra_opsets=()) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs,
                              [numpy_helper.from_array(w.astype(np.float32), name) for name, w in weights.items()])
    opsets = [helper.make_opsetid("", 17), *[helper.make_opsetid(d, 1) for d in extra_opsets]]
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(path))
    return path


def classifier(path: Path) -> Path:
    """[1, 3, 32, 32] -> Conv 3->16 -> Relu -> Conv 16->16 -> GlobalAveragePool -> Flatten -> MatMul -> [1, 10]."""
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c2"], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("MatMul", ["f", "w3"], ["logits"])]
    weights = {"w1": RNG.normal(size=(16, 3, 3, 3)) * 0.3, "w2": RNG.normal(size=(16, 16, 3, 3)) * 0.1,
               "w3": RNG.normal(size=(16, 10))}
    return _save(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                 [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], weights, path)


def lstm(path: Path) -> Path:
    """[1, 6, 8] (batch first) -> LSTM (hidden 16) over the 6 steps -> [1, 6, 1, 16]."""
    hidden = 16
    weights = {"W": RNG.normal(size=(1, 4 * hidden, 8)), "R": RNG.normal(size=(1, 4 * hidden, hidden)) * 0.3,
               "B": np.zeros((1, 8 * hidden))}
    nodes = [helper.make_node("Transpose", ["x"], ["steps"], perm=[1, 0, 2]),
             helper.make_node("LSTM", ["steps", "W", "R", "B"], ["h"], hidden_size=hidden),
             helper.make_node("Transpose", ["h"], ["y"], perm=[2, 0, 1, 3])]
    return _save(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 8])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 1, 16])], weights, path)


def quantized(source: Path, ops: list[str]) -> Path:
    """onnxruntime's dynamic quantization of `source`: what a maker ships as an 'int8 model'."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = source.with_name(source.stem + "_q.onnx")
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=ops)
    return target


def test_quantization_ops_are_found_and_a_float_file_has_none(tmp_path):
    float_file = classifier(tmp_path / "cls.onnx")
    assert quantization_ops(onnx.load(float_file)) == []
    assert quantization_ops(onnx.load(quantized(float_file, ["Conv", "MatMul"]))) == \
        ["ConvInteger", "DynamicQuantizeLinear", "MatMulInteger"]
    assert quantization_ops(onnx.load(quantized(lstm(tmp_path / "lstm.onnx"), ["LSTM"]))) == \
        ["com.microsoft.DynamicQuantizeLSTM"]
    gelu = _save([helper.make_node("QuickGelu", ["x"], ["y"], domain="com.microsoft")],
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], {}, tmp_path / "gelu.onnx",
                 ["com.microsoft"])
    assert quantization_ops(onnx.load(gelu)) == []  # a float op whose name starts with Q
    inner = helper.make_graph([helper.make_node("DequantizeLinear", ["q", "s"], ["d"])], "then", [],
                              [helper.make_tensor_value_info("d", TensorProto.FLOAT, [4])])
    branch = helper.make_graph([helper.make_node("If", ["c"], ["d"], then_branch=inner, else_branch=inner)], "if",
                               [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                               [helper.make_tensor_value_info("d", TensorProto.FLOAT, [4])])
    assert quantization_ops(helper.make_model(branch)) == ["DequantizeLinear"]  # inside a subgraph


def test_onnx2tfs_missing_op_module_is_said_as_the_op_it_cannot_convert():
    from importlib import metadata

    version = metadata.version("onnx2tf")
    tail = ["ERROR: DynamicQuantizeLSTM OP is not yet implemented.",
            "ModuleNotFoundError: No module named 'onnx2tf.ops.DynamicQuantizeLSTM'"]
    assert _error_line(tail) == f"onnx2tf {version} has no converter for DynamicQuantizeLSTM"
    assert _error_line(["Traceback", "ValueError: something else"]) == "ValueError: something else"


@pytest.mark.slow
def test_a_quantized_file_is_judged_as_int8_with_a_note(convert, tmp_path):
    path = quantized(classifier(tmp_path / "cls.onnx"), ["Conv", "MatMul"])
    run = convert("+graph=openvino", "model=onnx", f"model.path={path}", "bench.enabled=false",
                  "~graph.steps.onnx_lowp")  # n/a at fp32
    assert run.returncode == 0, run.tail()
    source = run.artifact("model")
    assert source.meta["quantized"] is True
    assert source.meta["quantization_ops"] == ["ConvInteger", "DynamicQuantizeLinear", "MatMulInteger"]
    int8 = run.tolerance("int8")
    for name in ("simplify", "openvino"):
        parity = run.parity(name)
        assert parity.passed and parity.precision == "fp32", (name, parity)
        assert parity.tolerance == {**int8}  # cosine, no atol: the int8 tolerances
        assert parity.note.startswith("judged at the int8 tolerances and floor: the source file is quantized")
        assert parity.task.min_agreement == run.data["config"]["validate"]["task"]["min_agreement"][
            "classification"]["int8"]
    assert "judged at the int8 tolerances and floor" in (run.dir / "report.md").read_text()
