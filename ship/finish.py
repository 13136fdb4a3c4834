"""The decision phase, after a job or a sweep: rank the candidates, pick one, write its deploy bundle, record it.

Runs from the results (a run's, or every job's of a sweep), after the pipeline wrote them; it prints nothing
(report/ shows the decision afterwards, from the record). `record_decision` is the phase's one writer: the
pipeline writes a run's results.json as the run ends, this writes the decision into it (or a sweep's
selection.json), once.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from pipeline.decision import Candidate, Decision, save_selection
from pipeline.results import RunResults
from ship.candidates import candidate_rows, unique
from ship.deploy import BundleError, write_bundle
from ship.retime import contenders, retime, retimed_words, with_retimed
from ship.selection import select

log = logging.getLogger("convgraph")


def _bundled(decision: Decision, results: RunResults, out_dir: Path, spec: dict) -> Decision:
    """With deploy/ for the pick when one was asked for; a pick that cannot be bundled is recorded as such (and
    fails the run)."""
    if decision.status != "picked" or not spec.get("bundle", True):
        return decision
    try:
        bundle = write_bundle(out_dir / "deploy", decision.pick_row, results, decision)
    except BundleError as error:
        return decision.model_copy(update={"bundle_error": str(error)})
    return decision.model_copy(update={"bundle": str(bundle)})


def record_decision(decision: Decision, out_dir: Path, results: RunResults | None = None) -> None:
    """A run's decision into its results.json (`results`, saved again whole), a sweep's into selection.json."""
    if results is None:
        save_selection(decision, out_dir)
        return
    results.selection = decision
    results.save(out_dir)


def _picked(rows: list[Candidate], spec: dict, job_dir_of: Callable[[Candidate], Path], out_dir: Path,
            bench: dict) -> Decision:
    """select(), and for a latency pick among close contenders select() again on their side-by-side medians."""
    decision = select(rows, spec)
    close = contenders(decision)
    rounds = spec.get("retime_rounds", 0)
    if len(close) < 2 or not rounds:
        return decision
    retimed = retime(close, job_dir_of, out_dir / "bench" / "retime", bench["lock_file"], bench["timeout_s"],
                     rounds)
    if not retimed:
        return decision
    again = select(with_retimed(rows, retimed), spec)
    return again.model_copy(update={"retimed": retimed, "reason": f"{again.reason}; {retimed_words(retimed)}"})


def decide_run(results: RunResults, spec: dict, run_dir: Path) -> Decision:
    """End of a run: the decision (with `bundle` or `bundle_error` when a bundle was asked for), recorded."""
    decision = _picked(candidate_rows(results), spec, lambda row: run_dir, run_dir, results.config["bench"])
    decision = _bundled(decision, results, run_dir, spec)
    record_decision(decision, run_dir, results)
    return decision


def decide_sweep(sweep_dir: Path, jobs: dict[str, RunResults]) -> Decision | None:
    """Across a sweep's jobs: one decision, its bundle in sweep_dir/deploy, recorded in selection.json. None when
    no job asked for a selection (+select)."""
    specs = [r.config["select"] for r in jobs.values() if r.config.get("select")]
    if not specs:
        return None
    spec = specs[0]
    if any(s != spec for s in specs[1:]):
        log.warning("sweep jobs have different select settings; the first job's apply to the sweep: %s", spec)
    rows = unique([row for name, results in jobs.items() for row in candidate_rows(results, job=name)])
    bench = next(r.config["bench"] for r in jobs.values() if r.config.get("select"))
    decision = _picked(rows, spec, lambda row: sweep_dir / row.job, sweep_dir, bench)
    if decision.status == "picked":
        decision = _bundled(decision, jobs[decision.pick_row.job], sweep_dir, spec)
    record_decision(decision, sweep_dir)
    return decision
