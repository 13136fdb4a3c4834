"""tf_to_tflite: one TFLite file per precision from the SavedModel artifact, judged by that precision's
tolerance (the ALL run made fp32, fp16 and int8); bf16 is not applicable, recorded before TensorFlow loads.
(An unknown precision is refused with the config: test_config.py.)"""
from pathlib import Path

import pytest

from converters import tf_to_tflite
from converters.step_io.step_inputs import StepInputs
from core.errors import NotApplicable

pytestmark = pytest.mark.xdist_group("all_run")


def test_fp32_and_fp16_files_with_their_tolerances(all_run):
    tolerances = all_run.data["config"]["validate"]["tolerances"]
    for name, precision, weights in (("tflite_fp32", "fp32", "float32"), ("tflite_fp16", "fp16", "float16")):
        artifact = all_run.artifact(name)
        assert artifact.format == "tflite" and artifact.precision == precision
        assert artifact.meta["weights"] == weights and Path(artifact.path).suffix == ".tflite"
        check = all_run.parity(name)
        assert check.passed and check.tolerance == tolerances[precision]
        assert check.executed_precision == "fp32"  # XNNPACK computes fp16-weight models in fp32
    # fp16 weights differ from fp32 ones, but stay far inside the fp16 tolerance
    fp16_error = all_run.parity("tflite_fp16").worst_abs()
    assert 0 < fp16_error < tolerances["fp16"]["atol"]
    sizes = {name: Path(all_run.artifact(name).path).stat().st_size for name in ("tflite_fp16", "tflite_fp32")}
    assert sizes["tflite_fp16"] < sizes["tflite_fp32"]


def test_int8_is_full_integer_and_passes_by_cosine(all_run):
    artifact = all_run.artifact("tflite_int8")
    assert artifact.precision == "int8" and artifact.meta["weights"].startswith("int8")
    check = all_run.parity("tflite_int8")
    assert check.passed and check.executed_precision == "int8"
    assert check.tolerance["atol"] is None and check.outputs[0].cosine >= check.tolerance["cosine"]
    assert all_run.bench("tflite_int8").executed_precision == "int8"


def test_bf16_is_not_applicable(all_run, tmp_path):
    with pytest.raises(NotApplicable, match="bf16"):
        tf_to_tflite.convert(all_run.artifact("tf"), tf_to_tflite.Options(precision="bf16"), StepInputs(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_int8_step_applies_only_at_precision_int8(all_run):
    """tflite_int8 carries when_precision: [int8] in the graph; the ALL run is int8, so it ran."""
    assert all_run.steps()["tflite_int8"].status in ("ok", "cached")
    assert all_run.data["config"]["graph"]["steps"]["tflite_int8"]["when_precision"] == ["int8"]
