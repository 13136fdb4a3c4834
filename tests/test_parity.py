"""Parity must be able to fail: a broken artifact shows as a failed check naming artifact, output and value."""
import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from core.artifact import Artifact
from tests.conftest import infer
from validators.parity import compare, compare_output

FP32 = {"atol": 1e-4, "rtol": 1e-3, "cosine": 0.99999}


@pytest.mark.xdist_group("all_run")
def test_one_changed_weight_fails_parity(all_run, tmp_path):
    """The ALL run's simplified ONNX with one kernel value moved, through runtimes.infer (what the parity check
    runs), against the run's reference outputs."""
    good = all_run.artifact("simplify")
    broken_path = tmp_path / "broken.onnx"
    shutil.copy(good.path, broken_path)
    model = onnx.load(str(broken_path))
    weight = next(w for w in model.graph.initializer if len(w.dims) == 4)  # a conv kernel
    values = numpy_helper.to_array(weight).copy()
    values.flat[0] += 0.5
    weight.CopyFrom(numpy_helper.from_array(values, weight.name))
    onnx.save(model, str(broken_path))
    broken = Artifact.from_dict({**good.to_dict(), "name": "broken", "path": str(broken_path)})

    reference = all_run.recorded_outputs("model")
    inputs = all_run.dir / "inputs.npz"
    report = compare("broken", "model", "fp32", reference, infer(broken, inputs, tmp_path / "b")[0], ["logits"], FP32)
    assert not report.passed
    line = report.failure_line()
    assert line.startswith("broken: output 'logits'") and "max abs error" in line
    # and the unbroken artifact, through the same path, passes, with the outputs the run recorded for it
    outputs = infer(good, inputs, tmp_path / "g")[0]
    same = compare("simplify", "model", "fp32", reference, outputs, ["logits"], FP32)
    assert same.passed, same.failure_line()
    np.testing.assert_allclose(outputs[0], all_run.recorded_outputs("simplify")[0], rtol=1e-5, atol=1e-6)


def test_transposed_output_fails_even_when_shapes_agree():
    ref = np.random.default_rng(0).normal(size=(1, 8, 8)).astype(np.float32)
    result = compare_output("feat", ref, ref.transpose(0, 2, 1).copy(), FP32)
    assert not result.passed and "exceeds atol" in result.reason


def test_softmax_on_wrong_axis_fails():
    logits = np.random.default_rng(1).normal(size=(4, 10)).astype(np.float32)

    def softmax(x, axis):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    result = compare_output("probs", softmax(logits, 1), softmax(logits, 0), FP32)
    assert not result.passed
    assert result.worst_index is not None and len(result.worst_index) == 2


def test_shape_mismatch_is_always_fatal():
    ref = np.zeros((1, 10), np.float32)
    loose = {"atol": 1e9, "rtol": 1e9, "cosine": None}
    result = compare_output("logits", ref, np.zeros((1, 11), np.float32), loose)
    assert not result.passed and "shape" in result.reason


def test_identical_outputs_pass_and_report_zero_error():
    ref = np.random.default_rng(2).normal(size=(2, 5)).astype(np.float32)
    result = compare_output("x", ref, ref.copy(), FP32)
    assert result.passed and result.max_abs == 0.0 and abs(result.cosine - 1) < 1e-12
