"""bench.tune: each artifact's runtime settings searched before its latency row (a latency measurement per
candidate, the fastest kept), the row measured again with the one chosen, and the deploy bundle run with it."""
from __future__ import annotations

import json
import os

from bench.settings import tune_candidates
from pipeline.measure import TUNE_MARGIN
from runtimes.base import settings_data, with_override
from runtimes.onnxruntime import RUNTIME as ORT
from runtimes.openvino import RUNTIME as OV
from tests.conftest import FAST


def _holds(block: dict, options: dict) -> bool:
    """Does a runtime's settings block carry every option of an override (a nested one key by key)?"""
    return all(block.get(key) == value or (isinstance(value, dict) and value.items() <= block.get(key, {}).items())
               for key, value in options.items())


def test_candidates_are_the_settings_as_given_each_tunable_and_one_thread():
    tunables = ({"xnnpack": False},)
    assert tune_candidates(tunables, None, 4) == [{}, {"options": {"xnnpack": False}}, {"threads": 1}]
    assert tune_candidates(tunables, 2, 4) == [{}, {"options": {"xnnpack": False}}]  # bench.threads given: kept
    assert tune_candidates((), None, 1) == [{}]  # one core, nothing to tune: nothing to choose between


def test_an_override_merges_into_the_runtimes_block_key_by_key():
    bench = {"threads": None, "runtime": {"onnxruntime": {"execution_mode": "sequential",
                                                          "session_config": {"a": "1"}}}}
    settings = settings_data(bench, "onnxruntime", "fp32")
    spun = with_override(settings, "onnxruntime", {"options": ORT.tunables[0]})
    assert spun["options"]["onnxruntime"] == {"execution_mode": "sequential", "session_config": {
        "a": "1", "session.intra_op.allow_spinning": "0"}}
    assert spun["threads"] == 0 and settings["options"]["onnxruntime"]["session_config"] == {"a": "1"}  # a copy
    assert with_override(settings, "onnxruntime", {"threads": 1})["threads"] == 1
    assert with_override(settings, "onnxruntime", {}) is settings


def test_each_runtime_is_tuned_and_the_pick_ships_with_its_settings(convert):
    run = convert("+graph=openvino", *FAST, "bench.tune=true", "+select=latency", "select.runtimes=[onnxruntime]")
    assert run.returncode == 0, run.tail()
    rows = {row.artifact: row for row in run.results.bench}
    assert rows["model"].tuned is None  # PyTorch, the reference, as configured
    for name in ("simplify", "openvino"):  # export: superseded by simplify, not measured
        row = rows[name]
        trials = row.tuned.trials
        runtime = OV if name == "openvino" else ORT
        expected = tune_candidates(runtime.tunables, None, os.cpu_count() or 1)
        assert [t.override for t in trials] == expected, name  # every candidate measured ...
        assert all(t.status == "ok" and t.median_ms > 0 for t in trials), trials
        fastest = min(trials, key=lambda t: t.median_ms)
        clearly = fastest.median_ms < trials[0].median_ms * (1 - TUNE_MARGIN)  # trials[0]: as configured
        assert row.tuned.chosen == (fastest.override if clearly else {})  # ... the fastest kept, if clearly so
        # the row itself was measured again, with the chosen settings
        request = json.loads((run.dir / "bench" / f"{name}.request.json").read_text())
        assert request["settings"]["threads"] == row.tuned.chosen.get("threads", 0)
        assert _holds(request["settings"]["options"][runtime.name], row.tuned.chosen.get("options") or {}), request
    selection = run.results.selection
    chosen = rows[selection.pick.split("/")[-1]].tuned.chosen
    settings = json.loads((run.dir / "deploy" / "manifest.json").read_text())["runtime"]["settings"]
    assert settings["threads"] == chosen.get("threads", 0)  # the bundle runs as the pick was measured
    assert _holds(settings["options"]["onnxruntime"], chosen.get("options") or {}), settings
