"""converters.step_io.onnxsim_passes: onnxsim's command line run several times in one process (the simplification
onnx2tf runs before it converts, paid for with one import): it simplifies as the CLI does, keeps the function,
and a failure is an exit code, not a traceback of ours. converters.step_io.onnxsim_import: onnxsim imported without
torch simplifies to the same bytes, and torch is importable afterwards."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from pipeline.child import child_env
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
                          env=child_env(),
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


SIMPLIFY = """
import hashlib, sys
import onnx
from converters.step_io.onnxsim_import import import_onnxsim
onnxsim = import_onnxsim() if sys.argv[1] == "hidden" else __import__("onnxsim")
print("torch loaded by onnxsim:", "torch" in sys.modules)
simplified, ok = onnxsim.simplify(onnx.load(sys.argv[2]), check_n=2, overwrite_input_shapes={"x": [2, 4]})
print("sha256", ok, hashlib.sha256(simplified.SerializeToString()).hexdigest())
import torch
print("torch after", torch.tensor([1.0]).sum().item())
"""


def test_onnxsim_without_torch_simplifies_to_the_same_bytes(tmp_path):
    _foldable(tmp_path / "in.onnx")
    lines = {}
    for how in ("hidden", "plain"):
        done = subprocess.run([sys.executable, "-c", SIMPLIFY, how, str(tmp_path / "in.onnx")], cwd=REPO,
                              env=child_env(), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        lines[how] = [line for line in done.stdout.splitlines() if line.startswith(("torch", "sha256"))]
    assert lines["hidden"][0] == "torch loaded by onnxsim: False"
    assert lines["plain"][0] == "torch loaded by onnxsim: True"  # why the helper exists
    assert lines["hidden"][1] == lines["plain"][1] and lines["hidden"][1].startswith("sha256 True ")
    assert lines["hidden"][2] == "torch after 1.0"
