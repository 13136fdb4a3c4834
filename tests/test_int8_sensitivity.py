"""Which ONNX nodes the accuracy-aware ONNX Runtime int8 search keeps in float first (quantize_onnxruntime.sensitivity).
ONNX Runtime's QDQ quantizer fuses a Relu into the Conv before it, so the int8 model has no tensor for that Conv's
output: the error a Relu's output shows was added by the Conv, and keeping the Relu alone in float changes
nothing (on PP-OCRv4's detector the most sensitive "nodes" were Relus, and keeping them in float moved nothing).
In-process, on Conv -> Relu -> Conv -> Relu -> MatMul."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from converters.int8.quantize_onnxruntime import _quantize, sensitivity
from converters.onnx_precision import Options


def test_a_relu_is_ranked_behind_the_conv_it_is_fused_into(tmp_path):
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(size=(8, 3, 3, 3)).astype(np.float32), "w1"),
               numpy_helper.from_array(rng.normal(size=(8, 8, 3, 3)).astype(np.float32), "w2"),
               numpy_helper.from_array(rng.normal(size=(8 * 16 * 16, 10)).astype(np.float32), "g")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("Flatten", ["r2"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "g"], ["logits"], name="fc")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], weights)
    float_path, int8_path = tmp_path / "float.onnx", tmp_path / "int8.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(float_path))
    samples = [{"x": rng.normal(size=(1, 3, 16, 16)).astype(np.float32)} for _ in range(8)]
    _quantize(str(float_path), int8_path, samples, Options(precision="int8", calibration="minmax",
                                                           reduce_range=False), [])
    fused = {n.output[0] for n in onnx.load(str(int8_path)).graph.node}
    assert "c1" not in fused and "c2" not in fused  # the quantizer did fuse each Relu into its Conv
    ranked = sensitivity(str(float_path), str(int8_path), samples[0])
    for conv, relu in (("conv1", "relu1"), ("conv2", "relu2")):
        if relu in ranked:  # a Relu's error is its Conv's: never ranked without it, the Conv just before
            assert ranked.index(conv) == ranked.index(relu) - 1, ranked
    assert {"conv1", "conv2"} & set(ranked), ranked


def test_weights_held_by_constant_nodes_are_quantized_as_weights(tmp_path):
    """paddle2onnx writes every weight as a Constant node; the quantizer takes only initializers for weights, and
    quantized the others as activations (per tensor, at every call). They are made initializers first."""
    from converters import onnx_precision
    from converters.step_io.step_inputs import StepInputs
    from core.artifact import Artifact, TensorSpec

    rng = np.random.default_rng(0)
    constants = {"w": rng.normal(size=(8, 3, 3, 3)), "b": rng.normal(size=8), "g": rng.normal(size=(8 * 16 * 16, 10))}
    nodes = [helper.make_node("Constant", [], [name], name=f"const_{name}",
                              value=numpy_helper.from_array(value.astype(np.float32), name))
             for name, value in constants.items()]
    nodes += [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
              helper.make_node("Relu", ["c"], ["r"], name="relu"),
              helper.make_node("Flatten", ["r"], ["f"], name="flat"),
              helper.make_node("MatMul", ["f", "g"], ["logits"], name="fc")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])])
    path = tmp_path / "constants.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    np.savez(tmp_path / "calibration.npz", x=rng.normal(size=(8, 1, 3, 16, 16)).astype(np.float32))
    source = Artifact(name="constants", format="onnx", path=str(path), inputs=[TensorSpec("x", [1, 3, 16, 16], "NCHW")],
                      outputs=[TensorSpec("logits", [1, 10])]).seal()
    (tmp_path / "out").mkdir()
    (made,) = onnx_precision.convert(source, onnx_precision.Options(precision="int8", min_speedup=0),
                                     StepInputs(calibration=str(tmp_path / "calibration.npz")), tmp_path / "out")
    assert made.meta["constants_made_initializers"] == 3
    model = onnx.load(made.path)
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    conv_weight = next(v for v in weights.values() if v.shape == (8, 3, 3, 3))
    assert conv_weight.dtype == np.int8  # stored quantized, not a float tensor quantized at every call
    dequantize = next(n for n in model.graph.node if n.op_type == "DequantizeLinear"
                      and weights.get(n.input[0]) is conv_weight)
    assert weights[dequantize.input[1]].shape == (8,)  # one scale per output channel
