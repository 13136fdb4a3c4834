"""Selection on constructed rows: the Pareto front, each constraint, ties, the empty and the no-pick cases, the
one-line reason; rows built from a results.json; the decision as selection.json and results.json record it (and
an older file read back). (The select config block: test_config.py; a real run's decision: test_deploy_bundle.py.)"""
from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from bench.timing import summarize
from pipeline.decision import Candidate, Decision, load_selection, save_selection
from pipeline.results import SCHEMA_VERSION, RunResults, load_results
from ship.candidates import candidate_rows, unique
from ship.selection import LIMITS, dominates, pareto_front, select, violations

NO_LIMITS = {"objective": "latency", "require_parity": True, "without_source": True, "tie_within": 0.0}


def row(id, median_ms, agreement=1.0, installed_mb=150.0, **extra) -> Candidate:
    """A benchmarked candidate with every axis measured; `extra` overrides any field."""
    base = {"id": id, "artifact": id, "status": "ok", "runtime": "onnxruntime", "format": "onnx",
            "precision": extra.get("precision", "fp32"), "task": "classification",
            "median_ms": median_ms, "throughput_ips": 1000 / median_ms, "agreement": agreement,
            "quality": agreement, "parity_error": 1e-6, "parity_passed": True, "artifact_mb": 10.0,
            "installed_mb": installed_mb, "footprint_mb": installed_mb + 10.0, "cold_start_s": 0.1,
            "peak_rss_mb": 100.0, "runs_without_source": True}
    base.update(extra)
    base.setdefault("executed_precision", base["precision"])
    if base["installed_mb"] is not None and base["artifact_mb"] is not None and "footprint_mb" not in extra:
        base["footprint_mb"] = base["installed_mb"] + base["artifact_mb"]
    return Candidate(**base)


def test_front_keeps_trade_offs_and_drops_dominated_rows():
    fast = row("fast", 1.0, agreement=0.8)  # fastest, least accurate
    exact = row("exact", 3.0, agreement=1.0)  # slower, exact
    slow = row("slow", 4.0, agreement=0.8)  # worse than `fast` on latency and throughput, equal elsewhere
    assert dominates(fast, slow) and not dominates(fast, exact) and not dominates(exact, fast)
    assert pareto_front([fast, exact, slow]) == ["fast", "exact"]


def test_identical_rows_are_both_on_the_front_and_a_missing_value_never_wins():
    a, b = row("a", 2.0), row("b", 2.0)
    assert pareto_front([a, b]) == ["a", "b"]
    unmeasured = row("unmeasured", 2.0, peak_rss_mb=None)
    assert dominates(a, unmeasured) and not dominates(unmeasured, a)
    assert pareto_front([a, unmeasured]) == ["a"]


@pytest.mark.parametrize(("key", "limit", "field", "value"), [
    ("max_latency_ms", 2.0, "median_ms", 2.5), ("min_throughput_ips", 500.0, "throughput_ips", 400.0),
    ("min_agreement", 0.95, "agreement", 0.9), ("max_parity_error", 1e-3, "parity_error", 2e-3),
    ("max_artifact_mb", 5.0, "artifact_mb", 6.0), ("max_footprint_mb", 100.0, "footprint_mb", 160.0),
    ("max_cold_start_s", 0.5, "cold_start_s", 0.6), ("max_peak_rss_mb", 50.0, "peak_rss_mb", 60.0)])
def test_each_limit_rejects_beyond_it_and_accepts_at_it(key, limit, field, value):
    assert set(LIMITS) >= {key}
    spec = {**NO_LIMITS, key: limit}

    def measured(v):
        return row("x", 1.0).model_copy(update={field: v})

    failed = violations(measured(value), spec)
    assert len(failed) == 1 and failed[0].startswith(f"{key}={limit:g} (")
    assert violations(measured(limit), spec) == []  # the limit itself is allowed
    assert violations(measured(None), spec) == [f"{key}={limit:g} (not measured)"]


def test_lists_and_switches():
    ov_int8 = row("ov", 1.0, runtime="openvino", precision="int8")
    spec = {**NO_LIMITS, "runtimes": ["onnxruntime"], "precisions": ["fp32", "fp16"]}
    assert violations(ov_int8, spec) == ["runtimes=['onnxruntime'] (runtime openvino)",
                                         "precisions=['fp32', 'fp16'] (made at int8)"]
    torch = row("model", 1.0, runtime="torch", runs_without_source=False)
    assert violations(torch, NO_LIMITS) == ["without_source (needs the model's Python source)"]
    assert violations(torch, {**NO_LIMITS, "without_source": False}) == []
    broken = row("broken", 1.0, parity_passed=False)
    assert violations(broken, NO_LIMITS) == ["require_parity (its parity check failed)"]
    assert violations(Candidate(id="f", artifact="f", status="failed", error="crashed"), NO_LIMITS) == [
        "benchmark failed (crashed)"]


def test_pick_is_the_fastest_eligible_and_the_reason_names_the_rejected_faster_one():
    int8 = row("onnx_int8", 1.0, agreement=0.8, precision="int8")
    ov = row("openvino", 2.0, installed_mb=245.0, runtime="openvino")
    ort = row("simplify", 3.0)
    decision = select([ort, ov, int8], {**NO_LIMITS, "min_agreement": 0.95})
    assert decision.status == "picked" and decision.pick == "openvino"
    assert [c.id for c in decision.candidates] == ["onnx_int8", "openvino", "simplify"]
    reason = decision.reason
    assert "\n" not in reason
    assert reason.startswith("pick: openvino (OpenVINO fp32): fastest that meets every constraint, 2.00 ms median")
    assert ("best rejected: onnx_int8 (ONNX Runtime int8), 1.00 ms median (it would have won), "
            "by min_agreement=0.95 (top-1 agreement 80%)") in reason
    assert decision.best_rejected == "onnx_int8"
    assert decision.front == ["onnx_int8", "openvino", "simplify"]  # simplify: the smallest install


def test_other_objectives():
    small = row("tflite", 5.0, installed_mb=60.0, runtime="tflite")
    fast = row("openvino", 2.0, installed_mb=245.0, runtime="openvino")
    assert select([small, fast], {**NO_LIMITS, "objective": "footprint"}).pick == "tflite"
    assert select([small, fast], {**NO_LIMITS, "objective": "throughput"}).pick == "openvino"


def test_a_tie_on_latency_goes_to_the_smaller_install_and_says_so():
    ov = row("openvino", 2.00, installed_mb=245.0, runtime="openvino")
    ort = row("simplify", 2.04, installed_mb=148.0)
    assert select([ov, ort], {**NO_LIMITS, "tie_within": 0.0}).pick == "openvino"
    decision = select([ov, ort], {**NO_LIMITS, "tie_within": 0.03})
    assert decision.pick == "simplify" and decision.tied_with == ["openvino"]
    assert "ties within 3% with openvino, decided by installed size (installed 148 MB vs installed 245 MB)" in \
        decision.reason
    assert decision.reason.endswith("; no candidate rejected")


def test_an_exact_tie_on_everything_is_decided_by_name_deterministically():
    a, b = row("b_twin", 2.0), row("a_twin", 2.0)
    for rows in ([a, b], [b, a]):
        decision = select(rows, {**NO_LIMITS, "tie_within": 0.03})
        assert decision.pick == "a_twin" and "equal on every tie-breaker" in decision.reason


def test_empty_and_nothing_eligible():
    empty = select([], NO_LIMITS)
    assert empty.status == "empty" and empty.pick is None and empty.candidates == []
    rows = [row("simplify", 2.0), row("model", 9.0, runtime="torch", runs_without_source=False),
            Candidate(id="tf", artifact="tf", status="failed", error="crashed (SIGSEGV)")]
    decision = select(rows, {**NO_LIMITS, "max_latency_ms": 1.0})
    assert decision.status == "none" and decision.pick is None
    assert {c.id: c.failed for c in decision.candidates} == {
        "simplify": ["max_latency_ms=1 (2.00 ms median)"],
        "model": ["without_source (needs the model's Python source)", "max_latency_ms=1 (9.00 ms median)"],
        "tf": ["benchmark failed (crashed (SIGSEGV))"]}
    assert decision.reason.startswith("no pick: none of the 3 candidates meets the constraints (simplify: ")


def test_rows_from_results_json():
    def artifact(name, fmt, mb, sha):
        return {"name": name, "format": fmt, "path": f"/runs/{name}", "bytes": mb * 2**20, "sha256": sha,
                "precision": "fp32"}

    def output(max_abs):
        return {"name": "logits", "shape": [1, 10], "max_abs": max_abs, "passed": True}

    results = RunResults.model_validate({
        "graph": "all", "model": "tiny_cnn",
        "artifacts": [artifact("model", "torch", 1, "a"), artifact("simplify", "onnx", 2, "b"),
                      artifact("tf", "tf_savedmodel", 1, "c")],
        "parity": [{"artifact": "simplify", "reference": "model", "precision": "fp32", "passed": True,
                    "outputs": [output(3e-6), output(1e-6)],
                    "task": {"task": "classification", "agreement": 0.9, "passed": True}},
                   {"artifact": "tf", "reference": "model", "precision": "fp32", "passed": True,
                    "outputs": [output(1e-6)], "task": None}],
        "bench": [{"artifact": "model", "runtime": "torch", "status": "ok", "infer_ms": summarize([9.0, 9.0, 10.0]),
                   "throughput_ips": 111.0, "load_s": 2.0, "peak_rss_mb": 700.0, "precision": "fp32"},
                  {"artifact": "simplify", "runtime": "onnxruntime", "status": "ok", "precision": "fp32",
                   "infer_ms": summarize([2.0, 2.0, 2.5]), "throughput_ips": 500.0, "load_s": 0.1, "batch": 1,
                   "peak_rss_mb": 90.0, "footprint": {"installed_mb": 140.0, "runs_without_source": True},
                   "throughput": [{"batch": 4, "mode": "throughput", "status": "ok", "images_per_s": 800.0},
                                  {"batch": 8, "mode": "throughput", "status": "skipped",
                                   "reason": "static batch"}]},  # bench.batch=[1,4,8]
                  {"artifact": "tf", "status": "failed", "error": "crashed"}]})

    def footprint(runtime):
        return {"installed_mb": {"torch": 4000.0, "onnxruntime": 150.0}[runtime],
                "runs_without_source": runtime != "torch"}

    model, simplify, tf = candidate_rows(results, footprint=footprint)
    assert model.agreement == 1.0 and model.parity_error == 0.0 and model.runs_without_source is False
    assert simplify.agreement == 0.9 and simplify.parity_error == 3e-6
    assert simplify.footprint_mb == 142.0  # the row's own footprint wins over a fresh measurement
    assert model.installed_mb == 4000.0  # a row without one: measured (here: the function given)
    assert simplify.cold_start_s == 0.1 and simplify.artifact_mb == 2.0
    assert (simplify.throughput_ips, simplify.throughput_batch) == (800.0, 4)
    assert (model.throughput_ips, model.throughput_batch) == (111.0, None)
    assert tf.status == "failed" and tf.runtime == "tensorflow"
    job_rows = candidate_rows(results, job="3", footprint=footprint)
    assert [r.id for r in job_rows] == ["3/model", "3/simplify", "3/tf"]
    assert len(unique(job_rows + candidate_rows(results, job="4", footprint=footprint))) == 3


# ---- the decision on disk ----------------------------------------------------------------------------------------
def _decision() -> Decision:
    return select([row("a", 1.0, precision="int8"), row("b", 2.0)], {**NO_LIMITS, "precisions": ["fp32"]})


def test_selection_json_carries_the_version_and_every_key_the_plain_dicts_had(tmp_path):
    decision = _decision()
    save_selection(decision, tmp_path)
    data = json.loads((tmp_path / "selection.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert {"objective", "constraints", "front", "candidates", "pick", "best_rejected", "status", "reason",
            "tied_with"} <= set(data)
    assert {"id", "artifact", "status", "median_ms", "agreement", "floor", "rank", "on_front", "failed",
            "axis_ranks"} <= set(data["candidates"][0])
    assert data["candidates"][0]["floor"] is None  # unset keys are written, as null
    assert load_selection(tmp_path) == decision and load_selection(tmp_path).pick_row.id == "b"


def test_a_decision_in_results_json_keeps_its_null_keys_and_reads_back_typed(tmp_path):
    nothing = select([row("a", 1.0)], {**NO_LIMITS, "max_latency_ms": 0.5})
    RunResults(graph="all", model="tiny_cnn", selection=nothing).save(tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["selection"]["pick"] is None and data["selection"]["candidates"][0]["error"] is None
    assert load_results(tmp_path).selection == nothing


def test_an_older_selection_json_still_loads(tmp_path):
    """Version 2 wrote the decision as a plain dict: no schema_version, the report's `plot` in it."""
    old = _decision().model_dump(mode="json", exclude={"schema_version", "tied_with"})
    old["plot"] = "/runs/x/selection.png"
    old["candidates"][0]["gpu_ms"] = 1.0  # a key no version of the schema knows, at any level
    (tmp_path / "selection.json").write_text(json.dumps(old))
    loaded = load_selection(tmp_path / "selection.json")
    assert loaded.schema_version == 2 and loaded.pick == "b" and loaded.tied_with == []
    assert loaded.candidates == _decision().candidates


def test_writing_a_decision_with_an_unknown_key_fails():
    with pytest.raises(ValidationError, match="plot"):
        Decision(**_decision().model_dump(), plot="selection.png")
    with pytest.raises(ValidationError, match="status"):
        Candidate(id="a", artifact="a", status="done")
