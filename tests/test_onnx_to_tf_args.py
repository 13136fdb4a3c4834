"""What onnx2tf is told of a model's inputs and ops: the bound shapes of dynamic inputs (-ois), the inputs that
are not images kept as they are (-k), the ops it replaces by builtins when the model has them (-rtpo)."""
from __future__ import annotations

import sys
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from converters.onnx_to_tf import bound_inputs, shape_args
from converters.step_io.onnx_io import tensor_specs
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact
from core.feeds import Feed


def _model(path, with_erf: bool) -> Artifact:
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "h", "w"]),
              helper.make_tensor_value_info("tokens", TensorProto.FLOAT, [1, 16, 8])]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("ReduceMean", ["tokens"], ["m"], keepdims=0)]
    nodes += [helper.make_node("Erf", ["m"], ["y"])] if with_erf else [helper.make_node("Relu", ["m"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, [out]),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    ins, outs = tensor_specs(model)
    return Artifact(name="simplify", format="onnx", path=str(path), inputs=ins, outputs=outs)


FEEDS = (Feed("image", "image", [1, 3, 48, 320], "float32", "NCHW"), Feed("tokens", "data", [1, 16, 8], "float32", ""))


def test_shapes_layouts_and_pseudo_ops(tmp_path):
    source = _model(tmp_path / "erf.onnx", with_erf=True)
    run, pseudo_ops = StepInputs(feeds=FEEDS), ["Erf", "GeLU"]
    fixed, inputs = bound_inputs(source, run)
    assert fixed == {"image": [1, 3, 48, 320]} and inputs[0].shape == [1, 3, 48, 320] and inputs[1] == source.inputs[1]
    assert shape_args(source, pseudo_ops, fixed) == ["-ois", "image:1,3,48,320", "-k", "tokens", "-rtpo", "Erf"]
    assert "-rtpo" not in shape_args(source, [], fixed)
    plain = _model(tmp_path / "relu.onnx", with_erf=False)
    assert "-rtpo" not in shape_args(plain, pseudo_ops, fixed)  # only ops the model has
    keep_batch = StepInputs(feeds=FEEDS, dynamic_batch=True)  # bench.batch keeps the batch dynamic, H and W bound
    assert bound_inputs(source, keep_batch)[0] == {"image": [1, 3, 48, 320]}


def test_onnx2tf_runs_in_a_process_of_its_own_when_tensorflow_is_not_imported_here(tmp_path, capsys):
    """The step started cold (no warm parent: CONVGRAPH_COLD_CHILDREN=1, or this test worker, which never
    imports TensorFlow) starts `python -m onnx2tf`; started warm it forks it (every end-to-end run does)."""
    from converters import onnx_to_tf

    assert "tensorflow" not in sys.modules
    source = _model(tmp_path / "relu.onnx", with_erf=False)
    (tmp_path / "work").mkdir()
    made = onnx_to_tf.convert(source, onnx_to_tf.Options(), StepInputs(feeds=FEEDS), tmp_path / "work")
    assert "tensorflow" not in sys.modules
    assert made[0].format == "tf_savedmodel" and (Path(made[0].path) / "saved_model.pb").is_file()
    assert made[0].meta["command"].startswith("onnx2tf -i model.onnx") and "$ onnx2tf" in capsys.readouterr().out
