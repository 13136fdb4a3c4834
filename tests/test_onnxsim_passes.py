"""converters.step_io.onnxsim_passes: onnxsim's command line run several times in one process (the simplification
onnx2tf runs before it converts, paid for with one import): it simplifies as the CLI does, keeps the function,
and a failure is an exit code with onnxsim's reason, not a traceback of ours."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from tests.conftest import REPO


def _foldable(path):
    """y = x + (c1 * c2): the product of two constants is folded away by onnxsim, the Add stays."""
    c1 = helper.make_tensor("c1", TensorProto.FLOAT, [4], [1, 2, 3, 4])
    c2 = helper.make_tensor("c2", TensorProto.FLOAT, [4], [2, 2, 2, 2])
    graph = helper.make_graph(
        [helper.make_node("Mul", ["c1", "c2"], ["c"], name="fold_me"), helper.make_node("Add", ["x", "c"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])], initializer=[c1, c2])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "converters.step_io.onnxsim_passes", *map(str, args)], cwd=cwd,
                          env={"PYTHONPATH": str(REPO), "PATH": str(sys.executable.rsplit("/", 1)[0])},
                          capture_output=True, text=True, timeout=300)


def test_three_passes_fold_constants_bind_shapes_and_keep_the_function(tmp_path):
    _foldable(tmp_path / "in.onnx")
    done = _run(3, "in.onnx", "out.onnx", "--overwrite-input-shape", "x:2,4", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert [n.op_type for n in onnx.load(str(tmp_path / "in.onnx")).graph.node] == ["Mul", "Add"]  # input kept
    simplified = onnx.load(str(tmp_path / "out.onnx"))
    assert [n.op_type for n in simplified.graph.node] == ["Add"]
    assert [d.dim_value for d in simplified.graph.input[0].type.tensor_type.shape.dim] == [2, 4]
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    before = ort.InferenceSession(str(tmp_path / "in.onnx")).run(None, {"x": x})[0]
    after = ort.InferenceSession(str(tmp_path / "out.onnx")).run(None, {"x": x})[0]
    np.testing.assert_array_equal(before, after)


def test_a_file_onnxsim_cannot_read_is_an_exit_code(tmp_path):
    (tmp_path / "broken.onnx").write_bytes(b"not a protobuf")
    done = _run(3, "broken.onnx", "out.onnx", cwd=tmp_path)
    assert done.returncode != 0 and not (tmp_path / "out.onnx").exists()
