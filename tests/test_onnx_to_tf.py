"""onnx_to_tf: onnx2tf makes a SavedModel that matches the reference through the adapter (NHWC undone), on a
plain CNN and on a head that reshapes, transposes and concatenates; a tf failure leaves the openvino branch
whole. Real conversions: each onnx2tf call costs ~15 s, the session cache shares them between tests."""
from pathlib import Path

import numpy as np

from tests.conftest import FAST
from validators.parity import compare

TF_ARTIFACTS = ("tf", "tflite_fp32", "tflite_fp16")
HEAD = ["model=tiny_head", "bench.enabled=false"]


def _by_artifact(rows: list[dict]) -> dict[str, dict]:
    return {row["artifact"]: row for row in rows}


def test_tiny_cnn_through_tflite_graph(convert):
    proc, results = convert("+graph=tflite", *FAST)
    assert proc.returncode == 0, proc.stderr[-3000:]
    parity, bench = _by_artifact(results["parity"]), _by_artifact(results["bench"])
    for name in TF_ARTIFACTS:
        assert parity[name]["passed"], parity[name]
        assert bench[name]["status"] == "ok" and bench[name]["layout"] == "NHWC"
    assert bench["tf"]["runtime"] == "tensorflow" and bench["tflite_fp32"]["runtime"] == "tflite"
    tf = next(a for a in results["artifacts"] if a["name"] == "tf")
    assert tf["format"] == "tf_savedmodel" and (Path(tf["path"]) / "saved_model.pb").is_file()
    assert tf["meta"]["onnx2tf"] == "1.28.8" and tf["meta"]["command"].startswith("onnx2tf -i model.onnx")
    # the SavedModel artifact is the SavedModel alone: no onnx2tf leftovers hashed into it
    assert not list(Path(tf["path"]).glob("*.tflite")) and not list(Path(tf["path"]).parent.glob("*.npy"))


def test_reshape_transpose_concat_head_passes(convert):
    proc, results = convert("+graph=tflite", *HEAD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    parity = _by_artifact(results["parity"])
    for name in TF_ARTIFACTS:
        assert parity[name]["passed"], parity[name]
        assert [o["name"] for o in parity[name]["outputs"]] == ["tokens", "fmap"]
        n = results["inputs"]["count"]  # parity runs every image of the input set
        assert parity[name]["outputs"][1]["shape"] == [n, 6, 16, 16]  # the NHWC map came back as NCHW


def test_mis_transposed_output_fails_parity(convert, tmp_path):
    """The adapter's outputs pass; the same values left NHWC, or with H and W swapped, do not."""
    proc, results = convert("+graph=tflite", *HEAD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = tmp_path / "run" / "parity"
    with np.load(folder / "model.npz") as ref, np.load(folder / "tflite_fp32.npz") as cand:
        reference, tokens, fmap = [ref["arr_0"], ref["arr_1"]], cand["arr_0"], cand["arr_1"]
    tol = {"atol": 1e-4, "rtol": 1e-3, "cosine": 0.99999}

    def check(outputs):
        return compare("tflite_fp32", "model", "fp32", reference, outputs, ["tokens", "fmap"], tol)

    assert check([tokens, fmap]).passed
    left_nhwc = check([tokens, fmap.transpose(0, 2, 3, 1)])
    n = results["inputs"]["count"]
    assert not left_nhwc.passed and f"shape [{n}, 16, 16, 6] != reference [{n}, 6, 16, 16]" in left_nhwc.failure_line()
    swapped = check([tokens, fmap.transpose(0, 1, 3, 2)])  # same shape, H and W swapped
    assert not swapped.passed and "'fmap'" in swapped.failure_line() and "'tokens'" not in swapped.failure_line()
    grid = tokens[:, :256].reshape(n, 16, 16, 6).transpose(0, 2, 1, 3).reshape(n, 256, 6)  # rows in W-major order
    rows_swapped = check([np.concatenate([grid, tokens[:, 256:]], axis=1), fmap])
    assert not rows_swapped.passed and "'tokens'" in rows_swapped.failure_line()


def test_failing_tf_branch_leaves_openvino_branch(convert):
    proc, results = convert("+graph=all", *FAST, "graph.steps.tf.args=[--no-such-flag]")  # onnx2tf rejects it
    assert proc.returncode != 0
    steps = {s["name"]: s for s in results["steps"]}
    assert steps["tf"]["status"] == "failed"
    assert steps["tf"]["error"] == "onnx2tf exited with code 2: error: unrecognized arguments: --no-such-flag"
    assert "usage:" in Path(steps["tf"]["log"]).read_text()  # the step's log has onnx2tf's whole output
    assert steps["tflite_fp32"]["status"] == steps["tflite_fp16"]["status"] == "skipped"
    assert steps["openvino"]["status"] in ("ok", "cached")
    parity, bench = _by_artifact(results["parity"]), _by_artifact(results["bench"])
    assert parity["openvino"]["passed"] and bench["openvino"]["status"] == "ok"
    assert not {a["name"] for a in results["artifacts"]} & set(TF_ARTIFACTS)
    assert results["status"] == "failed"


def test_bad_verbosity_is_refused_before_anything_runs(convert):
    proc, _ = convert("+graph=tflite", *FAST, "graph.steps.tf.verbosity=loud")
    assert proc.returncode == 2
    assert "graph.steps.tf.verbosity='loud' is not allowed; allowed: debug, info, warn, error" in proc.stderr
