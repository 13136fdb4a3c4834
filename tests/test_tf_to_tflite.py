"""tf_to_tflite: one TFLite file per precision from the SavedModel artifact, judged by that precision's
tolerance; a precision it does not make is refused by name before anything runs. (The tiny_cnn conversions
are shared with test_onnx_to_tf through the session cache.)"""
from pathlib import Path

from tests.conftest import FAST


def test_fp32_and_fp16_files_with_their_tolerances(convert):
    proc, results = convert("+graph=tflite", *FAST, "bench.enabled=false")
    assert proc.returncode == 0, proc.stderr[-3000:]
    artifacts = {a["name"]: a for a in results["artifacts"]}
    parity = {p["artifact"]: p for p in results["parity"]}
    tolerances = results["config"]["validate"]["tolerances"]
    for name, precision, weights in (("tflite_fp32", "fp32", "float32"), ("tflite_fp16", "fp16", "float16")):
        artifact = artifacts[name]
        assert artifact["format"] == "tflite" and artifact["precision"] == precision
        assert artifact["meta"]["weights"] == weights and Path(artifact["path"]).suffix == ".tflite"
        assert parity[name]["passed"] and parity[name]["tolerance"] == tolerances[precision]
        assert parity[name]["executed_precision"] == "fp32"  # XNNPACK computes fp16-weight models in fp32
    # fp16 weights differ from fp32 ones, but stay far inside the fp16 tolerance
    fp16_error = max(o["max_abs"] for o in parity["tflite_fp16"]["outputs"])
    assert 0 < fp16_error < tolerances["fp16"]["atol"]


def test_bf16_is_not_applicable_and_an_unknown_precision_is_refused(convert):
    proc, results = convert("+graph=tflite", *FAST, "graph.steps.tflite_fp16.precision=bf16", "bench.enabled=false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    step = next(s for s in results["steps"] if s["name"] == "tflite_fp16")
    assert step["status"] == "n/a" and "bf16" in step["reason"]
    proc, _ = convert("+graph=tflite", *FAST, "graph.steps.tflite_fp16.precision=int4")
    assert proc.returncode == 2
    assert "graph.steps.tflite_fp16.precision='int4' is not allowed; allowed: fp32, fp16, int8, bf16" in proc.stderr


def test_int8_is_full_integer_and_passes_by_cosine(convert):
    proc, results = convert("+graph=tflite", *FAST, "precision=int8", "bench.enabled=false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    artifact = next(a for a in results["artifacts"] if a["name"] == "tflite_int8")
    assert artifact["precision"] == "int8" and artifact["meta"]["weights"].startswith("int8")
    check = next(p for p in results["parity"] if p["artifact"] == "tflite_int8")
    assert check["passed"] and check["executed_precision"] == "int8"
    assert check["tolerance"]["atol"] is None and check["outputs"][0]["cosine"] >= check["tolerance"]["cosine"]
