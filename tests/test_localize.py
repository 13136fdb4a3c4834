"""Localization names the node whose weights were altered, for an ONNX and an OpenVINO candidate."""
import numpy as np
import onnx
import openvino as ov
import pytest
from onnx import numpy_helper

from core.artifact import Artifact
from tests.conftest import FAST
from validators.localize import first_divergence, localize, onnx_tensors


@pytest.fixture
def simplified(convert):
    proc, results = convert("+graph=openvino", *FAST, "bench.enabled=false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return next(a for a in results["artifacts"] if a["name"] == "simplify")


def _break_second_conv(src: str, dst) -> str:
    model = onnx.load(src)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    target = convs[1]
    weight = next(w for w in model.graph.initializer if w.name == target.input[1])
    values = numpy_helper.to_array(weight).copy()
    values[0] *= -1.0  # one output channel's kernel flipped: a plausible converter bug
    weight.CopyFrom(numpy_helper.from_array(values, weight.name))
    onnx.save(model, str(dst))
    return target.name


def test_broken_onnx_and_ir_localized_to_the_altered_node(simplified, tmp_path):
    broken = tmp_path / "broken.onnx"
    node = _break_second_conv(simplified["path"], broken)
    batch = np.random.default_rng(0).normal(size=simplified["inputs"][0]["shape"]).astype(np.float32)

    found = localize(simplified["path"], Artifact(name="b", format="onnx", path=str(broken)), batch, 1e-4, 1e-3)
    assert found["found"] and found["node"] == node and found["op_type"] == "Conv"

    ir_dir = tmp_path / "ir"
    ir_dir.mkdir()
    ov.save_model(ov.convert_model(str(broken)), str(ir_dir / "model.xml"), compress_to_fp16=False)
    found = localize(simplified["path"], Artifact(name="b", format="openvino", path=str(ir_dir)), batch, 1e-4, 1e-3)
    assert found["found"] and found["node"] == node, found

    # the unbroken model compared with itself finds nothing
    same = first_divergence(simplified["path"], onnx_tensors(simplified["path"], batch),
                            onnx_tensors(simplified["path"], batch), 1e-4, 1e-3)
    assert not same["found"] and same["compared_tensors"] > 3
