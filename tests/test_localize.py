"""Localization names the node whose weights were altered, for an ONNX and an OpenVINO candidate; an unbroken
model compared with itself finds nothing; a format without a tensors hook says so. In-process, on the ALL
run's simplified ONNX (through the runtimes' `tensors` hooks, as validators.localize runs them)."""
import numpy as np
import onnx
import openvino as ov
import pytest
from onnx import numpy_helper

import runtimes
from core.artifact import Artifact
from validators.localize import first_divergence, localize
from validators.localize_protocol import LocalizeReply

pytestmark = pytest.mark.xdist_group("all_run")


@pytest.fixture
def simplified(all_run) -> Artifact:
    return all_run.artifact("simplify")


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


def _batch(artifact: Artifact) -> dict[str, np.ndarray]:
    """One batch of inputs by name, as the runtimes' hooks take them."""
    shape = [1 if d < 0 else d for d in artifact.inputs[0].shape]
    return {artifact.inputs[0].name: np.random.default_rng(0).normal(size=shape).astype(np.float32)}


def test_broken_onnx_and_ir_localized_to_the_altered_node(simplified, tmp_path):
    broken = tmp_path / "broken.onnx"
    node = _break_second_conv(simplified.path, broken)
    batch = _batch(simplified)

    found = localize(simplified.path, Artifact(name="b", format="onnx", path=str(broken)), batch, 1e-4, 1e-3)
    assert found.found and found.node == node and found.op_type == "Conv", found
    assert found.max_abs > 1e-3 and found.source == simplified.path

    ir_dir = tmp_path / "ir"
    ir_dir.mkdir()
    ov.save_model(ov.convert_model(str(broken)), str(ir_dir / "model.xml"), compress_to_fp16=False)
    found = localize(simplified.path, Artifact(name="b", format="openvino", path=str(ir_dir)), batch, 1e-4, 1e-3)
    assert found.found and found.node == node, found


def test_an_unbroken_model_compared_with_itself_finds_nothing(simplified):
    batch = _batch(simplified)
    tensors = runtimes.get("onnxruntime").tensors(simplified, None, batch)
    assert len(tensors) > 3  # every node output, not only the graph's outputs
    same = first_divergence(simplified.path, tensors, runtimes.get("onnxruntime").tensors(simplified, None, batch),
                            1e-4, 1e-3)
    assert not same.found and same.compared_tensors == len(tensors)


def test_the_ir_exposes_the_onnx_tensor_names(all_run, simplified):
    """The int8 IR of the ALL run keeps the ONNX tensor names (its hook finds them), and, judged at fp32
    tolerances, diverges from the fp32 ONNX at some named node (it is quantized)."""
    batch = _batch(simplified)
    reference = runtimes.get("onnxruntime").tensors(simplified, None, batch)
    ir = all_run.artifact("openvino")
    exposed = runtimes.get("openvino").tensors(ir, list(reference), batch, "fp32")
    assert exposed and set(exposed) <= set(reference)
    found = localize(simplified.path, ir, batch, 1e-4, 1e-3)
    assert found.found and found.node in {n.name for n in onnx.load(simplified.path).graph.node}


def test_a_format_without_a_tensors_hook_is_reported_not_guessed(all_run, simplified):
    found = localize(simplified.path, all_run.artifact("tflite_fp32"), _batch(simplified), 1e-4, 1e-3)
    assert found == LocalizeReply(found=False, reason="no intermediate-tensor access for format 'tflite' yet")
