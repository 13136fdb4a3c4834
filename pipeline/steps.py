"""Run one conversion step: from the cache when its key is known, else in its own child process
(converters.run_step) in a private work dir that is published whole or not at all."""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from bench.settings import needs_dynamic_batch
from converters import step_module, step_options
from converters.run_step_protocol import StepReply, StepRequest
from converters.step_io.step_inputs import StepInputs, TaskTarget
from core.artifact import Artifact
from core.errors import UserError
from pipeline.cache import StepCache, step_key
from pipeline.child import run_child
from pipeline.context import RunContext
from pipeline.graph import StepSpec
from pipeline.results import StepRecord
from pipeline.schema import Config
from validators.task_metrics import floor

log = logging.getLogger("convgraph")
TASK_METRICS = ("classification", "detection", "segmentation")  # what an accuracy-aware search can judge by


@dataclass(frozen=True)
class StepOutcome:
    """What one step came to: its artifacts (named after the step), or none and why (status n/a, failed, ...)."""

    status: str  # ok | cached | n/a | failed
    artifacts: list[Artifact] = field(default_factory=list)
    reason: str = ""  # why there are none: the step's n/a reason or its error


def run_needs_dynamic_batch(config: Config) -> bool:
    """The one place the run decides it: a step's own dynamic_batch option, when set, overrides it for that step."""
    return needs_dynamic_batch(config.bench.batch, config.input.batch)


class StepRunner:
    def __init__(self, ctx: RunContext, cache: StepCache | None, calibration: Path | None = None):
        self.ctx, self.cache, self.calibration = ctx, cache, calibration
        # what every step is told of the model's inputs (part of its cache key): their shapes, batch axes and
        # dtypes, and whether the batch axes stay dynamic (bench.batch asks for other batches than input.batch)
        self.dynamic_batch = run_needs_dynamic_batch(ctx.config)

    def run(self, spec: StepSpec, source: Artifact | None) -> StepOutcome:
        """The step's artifacts (named after the step), or none when it failed or does not apply (also recorded)."""
        record = StepRecord(name=spec.name, kind=spec.kind, input=spec.input, status="running",
                            log=str(self.ctx.log_path(spec.name)))
        self.ctx.results.steps.append(record)
        self.ctx.progress.step_started(spec.name)
        try:
            return self._run(spec, source, record)
        finally:
            self.ctx.progress.step_ended(record)

    def inputs_for(self, spec: StepSpec) -> StepInputs:
        """What the run tells the step besides its options (which stay as the user gave them)."""
        options = step_options(step_module(spec.kind), spec.options)
        int8 = _option(options, "precision") == "int8"
        # the export names a state output's batch axis after its state input's (model.state)
        return StepInputs(feeds=tuple(self.ctx.feeds), dynamic_batch=self.dynamic_batch, state=self.ctx.state,
                          calibration=str(self.calibration) if int8 and self.calibration else None,
                          accuracy=self._task_target(spec.name, options) if int8 else None)

    def _run(self, spec: StepSpec, source: Artifact | None, record: StepRecord) -> StepOutcome:
        run = self.inputs_for(spec)
        key = step_key(spec.kind, spec.options, run.to_dict(), source.sha256 if source else "",
                       step_module(spec.kind))
        record.cache_key = key
        cached = self.cache.lookup(key) if self.cache else None
        if cached:
            record.status, record.seconds = "cached", 0.0
            log.info("[%s] %s: cached", spec.name, spec.kind)
            return self._adopt(spec, record, cached)
        workdir = self.cache.reserve(key) if self.cache else self._private_workdir(spec.name)
        log.info("[%s] %s ...", spec.name, spec.kind)
        request = StepRequest(kind=spec.kind, options=spec.options, inputs=run, workdir=str(workdir),
                              result=str(workdir / "result.json"), input=source)
        child = run_child(request, workdir / "request.json", Path(record.log), spec.timeout_s)
        record.seconds = round(child.seconds, 3)
        answer = StepReply.read_if_any(workdir / "result.json")
        if answer and answer.not_applicable is not None:
            shutil.rmtree(workdir, ignore_errors=True)
            record.status, record.reason = "n/a", answer.not_applicable
            log.info("[%s] not applicable: %s", spec.name, record.reason)
            return StepOutcome("n/a", reason=record.reason)
        error = child.failure or (answer.failure if answer else "wrote no result")
        if error:
            shutil.rmtree(workdir, ignore_errors=True)  # nothing half-written survives as an artifact
            record.status, record.error = "failed", error
            record.error_type = (answer and answer.error_type) or "ChildProcess"
            record.node, record.op_type = (answer.node, answer.op_type) if answer else (None, None)
            if record.error_type == "UserError":  # bad input (weights, file): the run's one-line answer
                raise UserError(error)
            log.error("[%s] failed after %.1fs: %s (log: %s)", spec.name, child.seconds, error, record.log)
            return StepOutcome("failed", reason=error)
        made = list(answer.artifacts)
        if self.cache:
            made = self.cache.publish(key, workdir, made)
        else:
            final = self.ctx.run_dir / "steps" / spec.name
            workdir.rename(final)
            for artifact in made:
                artifact.path = artifact.path.replace(str(workdir), str(final), 1)
        record.status = "ok"
        log.info("[%s] ok in %.1fs -> %s (%.2f MB)", spec.name, child.seconds, made[0].format,
                 made[0].bytes / 2**20)
        return self._adopt(spec, record, made)

    def _task_target(self, step: str, options) -> TaskTarget | None:
        """What an accuracy-aware int8 step judges its candidates by: the run's pre/postprocess, validate.task and
        the target (the step's own, else the floor at int8). None: no search runs, it quantizes everything."""
        aware = _option(options, "accuracy_aware")
        if not aware:
            return None
        task = self.ctx.task_check
        kind = self.ctx.processing.get("task")
        target = _option(options, "target")
        target = floor(task, kind, "int8") if target is None else target
        if target is None or kind not in TASK_METRICS:
            return None
        if aware == "auto" and self.ctx.results.weights == "random":
            # a search on random weights would tune the artifact to noise, for minutes, and prove nothing
            log.info("[%s] accuracy-aware int8 not run: the weights are random (accuracy_aware=auto searches "
                     "only for trained weights; graph.steps.%s.accuracy_aware=true searches anyway)", step, step)
            return None
        return TaskTarget(processing=self.ctx.processing, task=task, target=target)

    def not_applicable(self, spec: StepSpec, reason: str) -> None:
        record = StepRecord(name=spec.name, kind=spec.kind, input=spec.input, status="n/a", seconds=0.0,
                            reason=reason)
        self.ctx.results.steps.append(record)
        self.ctx.progress.step_ended(record)

    def skipped(self, spec: StepSpec, because: str, status: str = "skipped") -> None:
        """A step whose input failed (skipped) or did not apply (n/a)."""
        why = f"input {because!r} " + ("failed" if status == "skipped" else "not applicable")
        record = StepRecord(name=spec.name, kind=spec.kind, input=spec.input, status=status, seconds=0.0)
        if status == "skipped":
            record.error = why
        else:
            record.reason = why
        self.ctx.results.steps.append(record)
        self.ctx.progress.step_ended(record)
        (log.warning if status == "skipped" else log.info)("[%s] %s: %s", spec.name, status, why)

    @staticmethod
    def _adopt(spec: StepSpec, record: StepRecord, made: list[Artifact]) -> StepOutcome:
        """Name the step's artifacts after the step (extras: step.suffix) and record the primary."""
        for i, artifact in enumerate(made):
            artifact.name = spec.name if i == 0 else f"{spec.name}.{artifact.name}"
        record.artifact = made[0].name
        return StepOutcome(record.status, made)

    def _private_workdir(self, name: str) -> Path:
        workdir = self.ctx.run_dir / "steps" / f".{name}.partial"
        for stale in (workdir, workdir.with_name(name)):
            shutil.rmtree(stale, ignore_errors=True)
        workdir.mkdir(parents=True)
        return workdir


def _option(options, name: str):
    """One option of a step: its Options' field, or a user's own module's dict entry (None when it has none)."""
    return options.get(name) if isinstance(options, dict) else getattr(options, name, None)
