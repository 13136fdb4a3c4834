"""The results.json schema: what one run records, written through this module and read back through it by the
report, the sweep summary, the selection, the deploy bundle and compare.

Version 2 added `schema_version` and `processing`; version 1 files (no `schema_version`) load too. Version 3
typed the selection (pipeline/decision.py): its `plot` is gone, selection.json carries `schema_version`. A key this
schema does not know is an error when writing (a new field is declared here first) and ignored when reading
an older or newer file, so that a run from another checkout can still be compared.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_serializer

from core.artifact import Artifact
from pipeline.decision import Decision, decision_of
from pipeline.records import SCHEMA_VERSION, Environment, InputSet, Profile, Record, StreamParity, Tuned, write_atomic
from validators.parity import OutputParity

FILE = "results.json"

StepStatus = Literal["running", "ok", "cached", "failed", "skipped", "n/a", "interrupted"]
RunStatus = Literal["running", "ok", "failed", "interrupted"]


class StepRecord(Record):
    name: str
    kind: str
    input: str
    status: StepStatus
    seconds: float | None = None
    artifact: str | None = None
    log: str | None = None
    cache_key: str | None = None
    reason: str | None = None  # n/a: why not applicable
    error: str | None = None
    error_type: str | None = None
    node: str | None = None  # failed: the node the converter broke at, when its own output names it
    op_type: str | None = None


class TaskAgreement(Record):
    """validators.task_metrics.task_agreement: the headline `agreement` plus the task's own figures."""

    model_config = ConfigDict(extra="allow")  # detection: precision, recall, f1, ...; classification: top1, ...
    task: str
    agreement: float
    passed: bool
    min_agreement: float | None = None
    # False where a miss of the floor is reported but does not fail parity (random weights below fp32: agreement
    # there says nothing about a trained model); `waived` says why
    enforced: bool = True
    waived: str | None = None

    @property
    def below_floor(self) -> bool:
        return self.min_agreement is not None and self.agreement < self.min_agreement


class Accuracy(Record):
    """One artifact's accuracy against the ground truth on the judged samples, and its drop against the reference
    (positive: worse) with a paired-bootstrap interval (validators.accuracy)."""

    model_config = ConfigDict(extra="allow")  # the metric's other figures (precision, recall, mAP50, ...)
    artifact: str
    metric: str
    value: float
    higher_is_better: bool = True
    samples: int
    reference: str
    reference_value: float
    drop: float
    low: float
    high: float
    confidence: float
    resamples: int
    distinguishable: bool


class ParityEntry(Record):
    artifact: str
    reference: str
    precision: str
    passed: bool
    outputs: list[OutputParity] = Field(default_factory=list)
    tolerance: dict[str, Any] | None = None
    task: TaskAgreement | None = None
    executed_precision: str | None = None
    error: str | None = None  # the candidate could not run
    divergence: dict[str, Any] | None = None  # validators.localize: the first node that diverges
    note: str | None = None  # why it was judged otherwise than its precision says (a quantized source file)
    stream: StreamParity | None = None  # a stateful model: how the error grows along each stream of calls

    def worst_abs(self) -> float | None:
        values = [o.max_abs for o in self.outputs if o.max_abs is not None]
        return max(values) if values else None

    def min_cosine(self) -> float | None:
        values = [o.cosine for o in self.outputs if o.cosine is not None]
        return min(values) if values else None

    @property
    def agreement(self) -> float | None:
        return self.task.agreement if self.task else None


class Stats(Record):
    """bench.timing.summarize: ms (latency) or images/s (throughput)."""

    model_config = ConfigDict(extra="allow")  # throughput adds requests_in_flight, inferences_per_round
    min: float
    median: float
    p90: float
    p99: float
    mean: float
    std: float
    cv: float
    n: int


class Footprint(Record):
    runtime: str | None = None
    version: str | None = None
    packages: dict[str, str] | None = None
    installed_mb: float
    runs_without_source: bool | None = None


class Measurement(Record):
    """One benchmark worker's answer (bench.worker) and what the pipeline adds to it."""

    artifact: str
    runtime: str | None = None
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    log: str | None = None
    version: str | None = None
    format: str | None = None
    precision: str | None = None
    executed_precision: str | None = None
    layout: str | None = None  # NHWC when the runtime takes an image input channels-last
    layouts: dict[str, str] | None = None  # per input, where not the reference's
    settings: dict[str, Any] | None = None
    outputs: dict[str, str] | None = None  # how each reference output was found (renamed, transposed)
    state: dict[str, str] | None = None  # a stateful model: the outputs fed back as inputs between timed calls
    batch: int | None = None
    mode: str | None = None
    threads: int | None = None
    load_s: float | None = None
    compile_s: float | None = None
    first_infer_s: float | None = None
    pre_ms: float | None = None
    post_ms: float | None = None
    infer_ms: Stats | None = None
    images_per_s: Stats | None = None  # throughput mode
    throughput_ips: float | None = None
    boxes_per_image: list[int] | None = None
    peak_rss_mb: float | None = None
    other_load_cores: float | None = None
    noisy: bool | None = None
    reused_from: str | None = None  # measured once in a sweep, reused by this job
    profile: Profile | None = None  # bench.profile: the runtime's per-node profile of the artifact


class ThroughputEntry(Record):
    batch: int
    mode: str
    status: Literal["ok", "skipped", "failed"]
    images_per_s: float | None = None
    noisy: bool | None = None
    source: str | None = None  # "latency row": the latency measurement already is this one
    reason: str | None = None
    error: str | None = None
    log: str | None = None
    measurement: Measurement | None = None


class BenchRow(Measurement):
    """The latency row of one artifact, with its images/s per bench.batch size and its runtime's footprint."""

    throughput: list[ThroughputEntry] | None = None
    footprint: Footprint | None = None
    tuned: Tuned | None = None  # bench.tune: the settings searched; its own row measured with the chosen one

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class RunResults(Record):
    schema_version: int = SCHEMA_VERSION
    graph: str
    model: str
    status: RunStatus = "running"
    run_dir: str | None = None
    precision: str | None = None
    opset: int | None = None
    # random: built from the architecture with the seed (no hub here); loaded: model.weights; file: a model file's
    # own. Agreement at low precision on random weights says nothing about a trained model.
    weights: Literal["random", "loaded", "file"] | None = None
    inputs: InputSet = Field(default_factory=InputSet)
    processing: dict[str, Any] | None = None  # what pre/postprocess did (core.prepost.Processing.from_config)
    environment: Environment | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    artifacts: list[Artifact] = Field(default_factory=list)
    parity: list[ParityEntry] = Field(default_factory=list)
    bench: list[BenchRow] = Field(default_factory=list)
    footprint: dict[str, Footprint] = Field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    # the judged and calibration splits (pipeline.splits), and the truth's source, kind, size and digest
    samples: dict[str, Any] | None = None
    accuracy: list[Accuracy] = Field(default_factory=list)  # against the truth, per artifact (the reference too)
    config: dict[str, Any] = Field(default_factory=dict)
    seconds: float | None = None
    error: str | None = None
    selection: Decision | None = None  # ship.finish records the decision here, when +select asked for one

    # ---- lookups every reader needs ----------------------------------------------------------------------
    def parity_of(self, artifact: str) -> ParityEntry | None:
        return next((p for p in self.parity if p.artifact == artifact), None)

    def accuracy_of(self, artifact: str) -> Accuracy | None:
        return next((a for a in self.accuracy if a.artifact == artifact), None)

    def artifact(self, name: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.name == name), None)

    def ok_bench(self) -> list[BenchRow]:
        return [b for b in self.bench if b.ok]

    def reference_ms(self) -> float | None:
        """What speed-ups are measured against in this run: PyTorch eager's median latency, else (a graph started
        from a file) the reference artifact's own."""
        rows = self.ok_bench()
        row = next((b for b in rows if b.runtime == "torch"), None) or next(
            (b for b in rows if b.artifact == self.reference_name()), None)
        return row.infer_ms.median if row and row.infer_ms else None

    def reference_name(self) -> str:
        """The artifact every other is checked against (the source, 'model')."""
        return next((p.reference for p in self.parity), "model")

    def reference_label(self) -> str:
        """What speed-ups are against, in words."""
        rows = self.ok_bench()
        if any(b.runtime == "torch" for b in rows):
            return "PyTorch eager"
        row = next((b for b in rows if b.artifact == self.reference_name()), None)
        return f"the reference ({row.runtime}, {row.artifact})" if row else "-"

    def speedup(self, row: BenchRow) -> float | None:
        reference = self.reference_ms()
        if reference is None or not row.ok or row.infer_ms is None:
            return None
        return reference / row.infer_ms.median

    def footprint_of(self, row: BenchRow) -> Footprint | None:
        return row.footprint or self.footprint.get(row.runtime or "")

    def has_task(self) -> bool:
        return any(p.task is not None for p in self.parity)

    # ---- files -------------------------------------------------------------------------------------------
    @field_serializer("selection")
    def _every_key(self, decision: Decision | None):
        return decision and decision.model_dump(mode="json")  # nulls kept, as selection.json keeps them

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_none=True)

    def save(self, run_dir: Path) -> Path:
        """Atomic: a reader never sees half a results.json."""
        run_dir.mkdir(parents=True, exist_ok=True)
        return write_atomic(run_dir / FILE, self.to_json())


def load_results(path: Path) -> RunResults:
    """A results.json (or the run directory holding one), of this or an older schema version."""
    path = path / FILE if path.is_dir() else path
    data = json.loads(path.read_text())
    data.setdefault("schema_version", 1)
    if data.get("selection") is not None:
        data["selection"] = decision_of(data["selection"], data["schema_version"])
    return RunResults.model_validate(data, context={"lenient": True})


def record_failure(run_dir: Path, graph: str, model: str, error: str) -> None:
    """A job that failed before or outside the pipeline still leaves a results.json saying why."""
    try:
        results = load_results(run_dir / FILE)
    except (FileNotFoundError, ValueError):
        results = RunResults(graph=graph, model=model, run_dir=str(run_dir))
    results.status, results.error = "failed", error
    results.save(run_dir)
