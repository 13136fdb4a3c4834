"""OpenVINO int8 with its float layers in bf16: the int8 IR records what its float part executes in (meta float_part),
the runtime asks the CPU plugin for it, and `float_part=auto` takes bf16 only where this CPU computes it natively,
the judge still finds the target met and it runs faster side by side. In-process, on a four-node classifier."""
from __future__ import annotations

import numpy as np
import pytest

from converters import onnx_to_openvino
from converters.int8.quantize_openvino import native_bf16
from converters.step_io.step_inputs import StepInputs, TaskTarget
from runtimes.base import Settings
from runtimes.openvino import OpenVinoRunner, precision_hint
from tests.test_int8_recipes import _classifier


def _int8(tmp_path, float_part: str, judged: bool = True):
    source = _classifier(tmp_path)
    aim = TaskTarget({"task": "classification"}, {}, 0.5) if judged else None
    run = StepInputs(calibration=str(tmp_path / "calibration.npz"), accuracy=aim)
    out = tmp_path / f"{float_part}{judged}"
    out.mkdir()
    options = onnx_to_openvino.Options(precision="int8", min_speedup=0, preset="performance", float_part=float_part)
    (made,) = onnx_to_openvino.convert(source, options, run, out)
    return made


def test_a_float_part_asked_for_is_recorded_and_the_runtime_runs_it(tmp_path):
    made = _int8(tmp_path, "bf16")
    assert made.meta["float_part"] == "bf16"
    assert made.meta["accuracy_aware"]["float_part_why"] == "asked for (float_part)"
    assert precision_hint(made, "int8") == "bf16"
    runner = OpenVinoRunner(made, Settings(precision="int8"))
    x = {"x": np.load(tmp_path / "calibration.npz")["x"][1]}
    if native_bf16():  # what the plugin reports it executes: the int8 layers and the rest in bf16
        assert runner.executed_precision == "int8+bf16" and runner.applied["INFERENCE_PRECISION_HINT"] == "bf16"
    fp32_part = _int8(tmp_path, "fp32")
    assert fp32_part.meta["float_part"] == "fp32"
    assert precision_hint(fp32_part, "int8") == "f32"
    reference = OpenVinoRunner(fp32_part, Settings(precision="int8"))
    assert reference.executed_precision == "int8+fp32"
    ours, theirs = runner(x)[0], reference(x)[0]  # every compute layer int8 here: bf16 has little left to round
    assert ours.shape == theirs.shape == (1, 10)
    assert np.abs(ours - theirs).max() <= 0.02 * np.abs(theirs).max()


def test_auto_takes_bf16_only_when_it_is_native_meets_the_target_and_is_faster(tmp_path):
    made = _int8(tmp_path, "auto")
    search = made.meta["accuracy_aware"]
    chosen, why = made.meta["float_part"], search["float_part_why"]
    assert chosen == search["float_part"] and chosen in ("fp32", "bf16")
    if not native_bf16():
        assert (chosen, why) == ("fp32", "this CPU has no native bf16 (no AVX-512 bf16 or AMX)")
        return
    assert why.startswith("bf16 top-1 agreement ") and "x fp32's speed" in why, why
    speed = float(why.split(", ")[1].split("x")[0])
    agreement = float(why.split()[3])
    if chosen == "bf16":
        assert agreement >= 0.5 and speed >= 1.05, why
    else:
        assert why.endswith((": below the target", ": not faster")), why
        assert agreement < 0.5 or speed < 1.05, why


def test_without_a_judge_auto_keeps_the_float_part_fp32(tmp_path):
    made = _int8(tmp_path, "auto", judged=False)
    assert made.meta["float_part"] == "fp32" and "accuracy_aware" not in made.meta


@pytest.mark.parametrize("module, depends", [("onnx_to_openvino", True), ("onnx_precision", True),
                                             ("tf_to_tflite", True), ("onnx_simplify", False)])
def test_a_step_that_chooses_by_the_cpu_keys_its_cache_by_the_cpus_instruction_sets(module, depends, monkeypatch):
    import importlib

    from pipeline import cache

    step = importlib.import_module(f"converters.{module}")
    here = cache.step_key(module, {"precision": "int8"}, {}, "sha", step)
    monkeypatch.setattr(cache, "cpu_info", lambda: {"flags": ["amx_bf16"]})  # as on a machine unlike any here
    elsewhere = cache.step_key(module, {"precision": "int8"}, {}, "sha", step)
    assert (here != elsewhere) == depends
