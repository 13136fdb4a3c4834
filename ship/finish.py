"""The decision after a job or a sweep: rank the candidates, pick one, write its deploy bundle, record it.

Runs from the results (a run's, or every job's of a sweep), after the pipeline is done; it prints nothing
(report/ shows the decision).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from pipeline.results import RunResults
from ship.candidates import candidate_rows, unique
from ship.deploy import BundleError, write_bundle
from ship.selection import select

log = logging.getLogger("convgraph")


def recorded(decision: dict) -> dict:
    """What results.json keeps: the decision without the duplicated pick row."""
    return {k: v for k, v in decision.items() if k != "pick_row"}


def succeeded(decision: dict) -> bool:
    """A pick, and its bundle when one was asked for."""
    return decision["status"] == "picked" and "bundle_error" not in decision


def _bundle(decision: dict, results: RunResults, out_dir: Path) -> None:
    """deploy/ for the pick; a pick that cannot be bundled is recorded as such (and fails the run)."""
    try:
        decision["bundle"] = str(write_bundle(out_dir / "deploy", decision["pick_row"], results, decision))
    except BundleError as error:
        decision["bundle_error"] = str(error)


def decide_run(results: RunResults, spec: dict, run_dir: Path) -> dict:
    """End of a run: the decision (with `bundle` or `bundle_error` when a bundle was asked for)."""
    decision = select(candidate_rows(results), spec)
    if decision["status"] == "picked" and spec.get("bundle", True):
        _bundle(decision, results, run_dir)
    return decision


def record_run(results: RunResults, decision: dict, run_dir: Path) -> None:
    results.selection = recorded(decision)
    results.save(run_dir)


def decide_sweep(sweep_dir: Path, jobs: dict[str, RunResults]) -> dict | None:
    """Across a sweep's jobs: one decision, its bundle in sweep_dir/deploy. None when no job asked for a
    selection (+select)."""
    specs = [r.config["select"] for r in jobs.values() if r.config.get("select")]
    if not specs:
        return None
    spec = specs[0]
    if any(s != spec for s in specs[1:]):
        log.warning("sweep jobs have different select settings; the first job's apply to the sweep: %s", spec)
    rows = unique([row for name, results in jobs.items() for row in candidate_rows(results, job=name)])
    decision = select(rows, spec)
    if decision["status"] == "picked" and spec.get("bundle", True):
        _bundle(decision, jobs[decision["pick_row"]["job"]], sweep_dir)
    return decision


def record_sweep(sweep_dir: Path, decision: dict) -> None:
    (sweep_dir / "selection.json").write_text(json.dumps(recorded(decision), indent=2, default=str))
