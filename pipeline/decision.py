"""The selection's records: a candidate row (one benchmarked artifact and every axis it was measured on), the same
row as ranked, and the decision. ship.candidates builds the rows, ship.selection decides, ship.finish records the
decision: a run's into its results.json (`RunResults.selection`), a sweep's into selection.json (read back
through `load_selection`). Part of the results schema: pipeline/results.py's rules and `SCHEMA_VERSION` apply.

The keys are those the plain dicts had before these records (version 2); every field is now written, unset ones
as null. Version 3 dropped the decision's `plot` (the report draws selection.png beside the file; the decision
holds only what was decided) and added `schema_version` to selection.json. `retimed` (the contenders of a latency
pick timed again side by side) came later within version 3: older readers ignore it, older files lack it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field

from pipeline.records import SCHEMA_VERSION, Record, write_atomic

FILE = "selection.json"


class Candidate(Record):
    """One benchmarked artifact (failed ones too: reported, never picked), with every measured axis."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str  # "<job>/<artifact>" in a sweep
    artifact: str
    status: Literal["ok", "failed"]
    job: str | None = None
    runtime: str | None = None
    format: str | None = None
    precision: str | None = None
    executed_precision: str | None = None
    version: str | None = None
    sha256: str | None = None
    path: str | None = None
    batch: int | None = None
    artifact_mb: float | None = None
    reused_from: str | None = None
    noisy: bool | None = None
    task: str | None = None
    weights: str | None = None
    error: str | None = None  # failed: why
    floor: float | None = None  # validate.task.min_agreement, where no truth judges instead
    # against the ground truth (pipeline.results.Accuracy), where there is one
    accuracy: float | None = None
    accuracy_metric: str | None = None
    accuracy_drop: float | None = None
    accuracy_low: float | None = None
    accuracy_high: float | None = None
    accuracy_distinguishable: bool | None = None
    accuracy_higher_is_better: bool | None = None
    median_ms: float | None = None
    p90_ms: float | None = None
    throughput_ips: float | None = None  # the best images/s of the latency row and the other batch sizes
    throughput_batch: int | None = None
    cold_start_s: float | None = None
    peak_rss_mb: float | None = None
    agreement: float | None = None
    parity_error: float | None = None
    parity_passed: bool | None = None
    installed_mb: float | None = None
    runs_without_source: bool | None = None
    footprint_mb: float | None = None
    quality: float | None = None  # higher is better: accuracy, else agreement, else minus the parity error


class Ranked(Candidate):
    """A candidate as the decision ranked it."""

    rank: int  # 1 = best on the objective
    on_front: bool
    failed: list[str] = Field(default_factory=list)  # the constraints it breaks; [] = eligible
    axis_ranks: dict[str, int] = Field(default_factory=dict)


class Retimed(Record):
    """A contender of a latency pick timed again side by side with the others (ship/retime.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    row_ms: float  # its benchmark row's median
    side_by_side_ms: float  # the median of its rounds' medians: what the pick was made on
    rounds_ms: list[float]
    other_load_cores: list[float] = Field(default_factory=list)  # per round: cores other processes kept busy


class Decision(Record):
    """ship.selection.select's answer, with the bundle ship.finish wrote for the pick (or why it could not)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = SCHEMA_VERSION
    objective: str
    constraints: dict[str, Any]
    front: list[str]
    candidates: list[Ranked]
    status: Literal["picked", "none", "empty"]  # none: candidates exist, none meets the constraints
    reason: str
    pick: str | None = None
    best_rejected: str | None = None
    tied_with: list[str] = Field(default_factory=list)
    bundle: str | None = None
    bundle_error: str | None = None
    retimed: list[Retimed] = Field(default_factory=list)  # [] = picked on the benchmark rows' own medians

    @property
    def pick_row(self) -> Ranked | None:
        return next((c for c in self.candidates if c.id == self.pick), None)

    @property
    def succeeded(self) -> bool:
        """A pick, and its bundle when one was asked for."""
        return self.status == "picked" and self.bundle_error is None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)  # nulls kept: the keys a reader of the plain dicts looked up


def save_selection(decision: Decision, out_dir: Path) -> Path:
    """selection.json in out_dir, atomic like results.json."""
    return write_atomic(out_dir / FILE, decision.to_json())


def load_selection(path: Path) -> Decision:
    """A sweep's selection.json (or the sweep directory holding one), of this or an older schema version."""
    path = path / FILE if path.is_dir() else path
    return decision_of(json.loads(path.read_text()), 2)  # before version 3 selection.json carried no version


def decision_of(data: dict, version: int) -> Decision:
    """A decision as a file of schema `version` recorded it (its own schema_version wins)."""
    return Decision.model_validate({"schema_version": version, **data}, context={"lenient": True})
