"""onnx_to_tf: onnx2tf makes a SavedModel that matches the reference through the adapters (NHWC undone), on a
plain CNN (the ALL run) and on a head that reshapes, transposes and concatenates (the HEAD run, made with the
cache off: its artifacts live in the run dir). (A tf failure leaving the other branch whole:
test_failure_isolation.py; a bad verbosity: test_config.py.)"""
from pathlib import Path

import numpy as np
import pytest

from core.samples import per_item
from tests.conftest import infer
from validators.parity import compare

TF_ARTIFACTS = ("tf", "tflite_fp32", "tflite_fp16")


@pytest.mark.xdist_group("all_run")
def test_tiny_cnn_through_the_tf_branch(all_run):
    for name in TF_ARTIFACTS:
        assert all_run.parity(name).passed, all_run.parity(name)
        row = all_run.bench(name)
        assert row.status == "ok" and row.layout == "NHWC"
    assert all_run.bench("tf").runtime == "tensorflow" and all_run.bench("tflite_fp32").runtime == "tflite"
    tf = all_run.artifact("tf")
    assert tf.format == "tf_savedmodel" and (Path(tf.path) / "saved_model.pb").is_file()
    assert tf.meta["onnx2tf"] == "1.28.8" and tf.meta["command"].startswith("onnx2tf -i model.onnx")
    # the SavedModel artifact is the SavedModel alone: no onnx2tf leftovers hashed into it
    assert not list(Path(tf.path).glob("*.tflite")) and not list(Path(tf.path).parent.glob("*.npy"))
    assert not (Path(tf.path).parent / "model.onnx").exists()  # onnx2tf's private copy of its input


@pytest.mark.xdist_group("all_run")
def test_the_runners_say_how_each_output_was_found(all_run):
    """The TF adapters record which of the runtime's tensors became each reference output."""
    for name in ("tf", "tflite_fp32"):
        outputs = all_run.bench(name).outputs
        assert list(outputs) == ["logits"] and outputs["logits"] in ("output_0", "Identity"), outputs


@pytest.mark.xdist_group("head_run")
def test_reshape_transpose_concat_head_passes(head_run):
    assert head_run.statuses() == {"model": "ok", "export": "ok", "tf": "ok", "tflite_fp32": "ok",
                                   "tflite_int8": "n/a"}
    n = head_run.results.inputs.count  # parity runs every image of the input set
    for name in ("tf", "tflite_fp32"):
        check = head_run.parity(name)
        assert check.passed, check
        assert [o.name for o in check.outputs] == ["tokens", "fmap"]
        assert check.outputs[0].shape == [n, 257, 6]
        assert check.outputs[1].shape == [n, 6, 16, 16]  # the NHWC map came back as NCHW


@pytest.mark.xdist_group("head_run")
def test_cache_disabled_converts_into_the_run_dir(head_run):
    assert all(a.path.startswith(str(head_run.dir / "steps")) for a in head_run.results.artifacts)
    assert all(s.cache_key for s in head_run.results.steps if s.status == "ok")  # keys are still recorded
    assert not list((head_run.dir / "steps").glob(".*.partial"))  # every work dir was moved into place


@pytest.mark.xdist_group("head_run")
def test_mis_transposed_output_fails_parity(head_run):
    """The adapter's outputs pass; the same values left NHWC, or with H and W swapped, do not."""
    reference = per_item(head_run.recorded_outputs("model"))  # one row per image, as parity judges them
    tokens, fmap = per_item(head_run.recorded_outputs("tflite_fp32"))
    tol = {"atol": 1e-4, "rtol": 1e-3, "cosine": 0.99999}

    def check(outputs):
        return compare("tflite_fp32", "model", "fp32", reference, outputs, ["tokens", "fmap"], tol)

    assert check([tokens, fmap]).passed
    left_nhwc = check([tokens, fmap.transpose(0, 2, 3, 1)])
    n = head_run.results.inputs.count
    assert not left_nhwc.passed and f"shape [{n}, 16, 16, 6] != reference [{n}, 6, 16, 16]" in left_nhwc.failure_line()
    swapped = check([tokens, fmap.transpose(0, 1, 3, 2)])  # same shape, H and W swapped
    assert not swapped.passed and "'fmap'" in swapped.failure_line() and "'tokens'" not in swapped.failure_line()
    grid = tokens[:, :256].reshape(n, 16, 16, 6).transpose(0, 2, 1, 3).reshape(n, 256, 6)  # rows in W-major order
    rows_swapped = check([np.concatenate([grid, tokens[:, 256:]], axis=1), fmap])
    assert not rows_swapped.passed and "'tokens'" in rows_swapped.failure_line()


@pytest.mark.xdist_group("head_run")
def test_savedmodel_runner_maps_the_head_outputs(head_run, tmp_path):
    """The TensorFlow runner, in a child process (never next to torch), on the head's SavedModel: its outputs are
    the ones the run recorded, mapped back onto [tokens, fmap] with the 4-D map transposed back to NCHW."""
    tf = head_run.artifact("tf")
    outputs, info = infer(tf, head_run.dir / "inputs.npz", tmp_path, child=True)
    assert info.runtime == "tensorflow" and info.layout == "NHWC"
    assert info.outputs["fmap"].endswith("transposed [0, 3, 1, 2]") and "transposed" not in info.outputs["tokens"]
    for mine, recorded in zip(outputs, head_run.recorded_outputs("tf"), strict=True):
        np.testing.assert_allclose(mine, recorded, rtol=1e-5, atol=1e-6)
