"""converters.failures.onnx_repairs: lstm_initial_state gives RNNs explicit zero states that change nothing they
compute (ONNX Runtime says so), at a fixed or a dynamic batch; onnxsim takes them away again (why onnx_to_tf passes
-nuo); an unknown repair is refused in one line."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from converters.failures.onnx_repairs import apply
from core.errors import UserError
from pipeline import config
from tests.conftest import composed

HIDDEN, FEATURES = 6, 8


def rnn_model(path, batch, op: str = "LSTM") -> None:
    rng = np.random.default_rng(0)
    gates = {"LSTM": 4, "GRU": 3}[op]
    shapes = {"W": (2, gates * HIDDEN, FEATURES), "R": (2, gates * HIDDEN, HIDDEN), "B": (2, 2 * gates * HIDDEN)}
    weights = [numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)
               for name, shape in shapes.items()]
    nodes = [helper.make_node(op, ["x", "W", "R", "B"], ["y", "y_h"], name=f"{op}_0", hidden_size=HIDDEN,
                              direction="bidirectional")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, batch, FEATURES])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 2, batch, HIDDEN])
    graph = helper.make_graph(nodes, "rnn", [x], [y], weights)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), str(path))


def run(path, x) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_a_fixed_batch_gets_constant_zeros_that_change_nothing(tmp_path, op):
    rnn_model(tmp_path / "m.onnx", 2, op)
    x = np.random.default_rng(1).standard_normal((5, 2, FEATURES)).astype(np.float32)
    before = run(tmp_path / "m.onnx", x)
    changes = apply(tmp_path / "m.onnx", ["lstm_initial_state"])
    added = ["initial_h", "initial_c"] if op == "LSTM" else ["initial_h"]
    assert changes == [{"repair": "lstm_initial_state", "node": f"{op}_0", "op_type": op, "added": added,
                        "zeros": [2, 2, HIDDEN]}]
    model = onnx.load(str(tmp_path / "m.onnx"))
    state = model.graph.node[0].input[5]
    assert numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == state)).shape == (2, 2, HIDDEN)
    np.testing.assert_array_equal(run(tmp_path / "m.onnx", x), before)
    assert apply(tmp_path / "m.onnx", ["lstm_initial_state"]) == []  # nothing left to repair: the file is untouched


def test_a_dynamic_batch_gets_zeros_of_the_batch_it_runs_at(tmp_path):
    rnn_model(tmp_path / "m.onnx", "batch")
    x = np.random.default_rng(2).standard_normal((5, 3, FEATURES)).astype(np.float32)
    before = run(tmp_path / "m.onnx", x)
    changes = apply(tmp_path / "m.onnx", ["lstm_initial_state"])
    assert changes[0]["zeros"] == [2, "batch", HIDDEN]
    assert "ConstantOfShape" in {n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node}
    np.testing.assert_array_equal(run(tmp_path / "m.onnx", x), before)
    # told the batch the converter will be given, the zeros are a constant again
    rnn_model(tmp_path / "bound.onnx", "batch")
    assert apply(tmp_path / "bound.onnx", ["lstm_initial_state"], {"x": [5, 3, FEATURES]})[0]["zeros"] == [2, 3, HIDDEN]


def test_onnxsim_takes_all_zero_states_away_again(tmp_path):
    """Why onnx_to_tf simplifies before repairing and passes onnx2tf -nuo: onnxsim 0.8.1 unsets provably all-zero
    RNN initial states (which onnx2tf's bidirectional LSTM converter then dies without)."""
    import onnxsim

    rnn_model(tmp_path / "m.onnx", 1)
    apply(tmp_path / "m.onnx", ["lstm_initial_state"])
    simplified, _ = onnxsim.simplify(onnx.load(str(tmp_path / "m.onnx")))
    lstm = next(n for n in simplified.graph.node if n.op_type == "LSTM")
    assert len(lstm.input) <= 5 or not any(lstm.input[5:])


def test_an_unknown_repair_is_refused_naming_the_known_ones():
    with pytest.raises(UserError) as refused:
        config.validate(composed("graph.steps.tf.repairs=[lstm_initial_state,zero_bias]", graph="tflite"))
    assert str(refused.value) == ("graph.steps.tf.repairs=['lstm_initial_state', 'zero_bias'] is not allowed: "
                                  "'zero_bias' is no known repair; known: lstm_initial_state, maxpool_zero_pad")


def _relu_maxpool(path, after: str = "Relu", opset: int = 17):
    """x -> Conv -> (Relu | nothing) -> MaxPool(3, stride 2, pads 1): resnet's stem in miniature."""
    weights = numpy_helper.from_array(np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1])]
    if after == "Relu":
        nodes.append(helper.make_node("Relu", ["c"], ["r"], name="relu"))
    nodes.append(helper.make_node("MaxPool", [nodes[-1].output[0]], ["y"], name="pool", kernel_shape=[3, 3],
                                  strides=[2, 2], pads=[1, 1, 1, 1]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 9, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=[weights])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))


@pytest.mark.parametrize("opset", [17, 9])  # from opset 11 Pad takes its amounts as an input, before as attribute
def test_maxpool_zero_pad_makes_a_relus_pool_padding_explicit_and_keeps_its_maximum(tmp_path, opset):
    """onnx2tf pads a MaxPool with float32's lowest value, which TFLite's int8 quantizer turns into a ~1e36 scale;
    after a Relu an explicit zero Pad gives the same maximum (every window holds a value >= 0)."""
    _relu_maxpool(tmp_path / "m.onnx", opset=opset)
    x = np.random.default_rng(1).normal(size=(1, 3, 9, 9)).astype(np.float32)
    before = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x})[0]
    changes = apply(tmp_path / "m.onnx", ["maxpool_zero_pad"])
    assert [(c["node"], c["added"]) for c in changes] == [("pool", ["Pad"])]
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert [n.op_type for n in model.graph.node] == ["Conv", "Relu", "Pad", "MaxPool"]
    pool = model.graph.node[-1]
    assert [list(a.ints) for a in pool.attribute if a.name == "pads"] == [[0, 0, 0, 0]]
    after = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x})[0]
    assert after.shape == before.shape == (1, 4, 5, 5)
    np.testing.assert_array_equal(after, before)


def test_maxpool_zero_pad_leaves_a_pool_of_negative_values_alone(tmp_path):
    _relu_maxpool(tmp_path / "m.onnx", after="Conv")  # no Relu: a zero border could be the maximum
    assert apply(tmp_path / "m.onnx", ["maxpool_zero_pad"]) == []
    assert [n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node] == ["Conv", "MaxPool"]
