"""A failed conversion names the node and op it broke at, read from the converter's own words
(converters.failures.failure_site): OpenVINO and onnxsim run here on small broken models; names are checked against
the model, never guessed."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from converters import onnx_simplify, onnx_to_openvino
from converters.failures.failure_site import ConversionFailed, converting, locate
from converters.step_io.onnx_io import tensor_specs
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact


def artifact_of(path, nodes, initializers=(), outputs=(("y", [1, 3]),)) -> Artifact:
    graph = helper.make_graph(nodes, "broken", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
                              list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.microsoft", 1)])
    onnx.save(model, str(path))
    inputs, outs = tensor_specs(model)
    return Artifact(name="broken", format="onnx", path=str(path), inputs=inputs, outputs=outs)


def relu_then(node) -> list:
    return [helper.make_node("Relu", ["x"], ["r"], name="Relu_0"), node]


def test_openvino_names_the_node_whose_shapes_do_not_fit(tmp_path):
    source = artifact_of(tmp_path / "m.onnx", relu_then(helper.make_node("MatMul", ["r", "w"], ["y"], name="MatMul_0")),
                         [numpy_helper.from_array(np.ones((5, 3), np.float32), "w")])
    with pytest.raises(ConversionFailed) as failed:
        onnx_to_openvino.convert(source, onnx_to_openvino.Options(), StepInputs(), tmp_path)
    # OpenVINO calls the node by its output's name (<Node(MatMul): y>): the ONNX node it is
    assert (failed.value.node, failed.value.op_type) == ("MatMul_0", "MatMul")
    assert str(failed.value).startswith("OpenVINO failed at node 'MatMul_0' (MatMul): OpConversionFailure: "
                                        "Incompatible MatMul matrix dimension")


def test_an_op_openvino_has_no_rule_for_is_said_so(tmp_path):
    source = artifact_of(tmp_path / "m.onnx", relu_then(helper.make_node("NoSuchOp", ["r"], ["y"], name="Weird_0",
                                                                         domain="com.microsoft")))
    with pytest.raises(ConversionFailed, match=r"^OpenVINO has no converter for NoSuchOp \(com.microsoft\), needed "
                                               r"by node 'Weird_0'$"):
        onnx_to_openvino.convert(source, onnx_to_openvino.Options(), StepInputs(), tmp_path)


def test_onnxsim_names_the_node_its_constant_folding_failed_on(tmp_path):
    nodes = [helper.make_node("Reshape", ["c", "shape"], ["r"], name="Reshape_0"),
             helper.make_node("Relu", ["x"], ["y"], name="Relu_0"),
             helper.make_node("ReduceSum", ["r"], ["s"], name="Sum_0", keepdims=0)]
    source = artifact_of(tmp_path / "m.onnx", nodes, [numpy_helper.from_array(np.ones((2, 3), np.float32), "c"),
                                                      numpy_helper.from_array(np.array([5], np.int64), "shape")],
                         outputs=(("y", [1, 4]), ("s", [])))
    with pytest.raises(ConversionFailed) as failed:
        onnx_simplify.convert(source, onnx_simplify.Options(), StepInputs(), tmp_path)
    assert (failed.value.node, failed.value.op_type) == ("Reshape_0", "Reshape")
    assert str(failed.value).startswith("onnxsim failed at node 'Reshape_0' (Reshape): Fail: [ONNXRuntimeError]")


def test_a_name_the_model_does_not_have_is_not_reported(tmp_path):
    source = artifact_of(tmp_path / "m.onnx", relu_then(helper.make_node("Neg", ["r"], ["y"], name="/a/Neg:0")))
    assert not locate("Node (Other_7) Op (Neg) failed", source.path)  # no such node: no guess
    assert locate("Node (/a/Neg:0) Op (Neg) failed", source.path).node == "/a/Neg:0"
    assert locate("ERROR: onnx_op_name: wa/a/Neg__0", source.path).node == "/a/Neg:0"  # onnx2tf's sanitized name
    with pytest.raises(ValueError, match="^nothing about nodes$"), converting("X", source.path):
        raise ValueError("nothing about nodes")  # a message naming no node passes through unchanged


def test_tensorflow_converter_locations_name_the_tf_node():
    # TensorFlow 2.21's converter, asked for builtins only on a SavedModel with tf.math.erf(name="my_erf")
    text = ('Could not translate MLIR to FlatBuffer.<unknown>:0: error: loc(callsite(fused["Erf:", '
            '"my_erf@__inference_f_6"] at callsite(fused["PartitionedCall:", "PartitionedCall@__inference_signature_'
            'wrapper_f_12"] at fused["PartitionedCall:", "PartitionedCall"]))): \'tf.Erf\' op is neither a custom op '
            'nor a flex op\n<unknown>:0: note: loc(fused["PartitionedCall:", "PartitionedCall"]): called from')
    site = locate(text)
    assert (site.node, site.op_type) == ("my_erf", "tf.Erf")
    with pytest.raises(ConversionFailed, match=r"^the TFLite converter failed at node 'my_erf' \(tf.Erf\): "
                                               r"RuntimeError: 'tf.Erf' op is neither a custom op nor a flex op$"):
        with converting("the TFLite converter"):
            raise RuntimeError(text)
