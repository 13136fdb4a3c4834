"""Run one conversion step: from the cache when its key is known, else in its own child process
(converters.run_step) in a private work dir that is published whole or not at all."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from omegaconf import OmegaConf

from bench.settings import needs_dynamic_batch
from converters import step_module
from core.artifact import Artifact
from core.errors import UserError
from pipeline.cache import StepCache, referenced_file_hashes, step_key
from pipeline.child import run_child
from pipeline.context import RunContext, read_json
from pipeline.graph import StepSpec
from pipeline.results import StepRecord
from validators.task_metrics import floor

log = logging.getLogger("convgraph")
TASK_METRICS = ("classification", "detection", "segmentation")  # what an accuracy-aware search can judge by


class StepRunner:
    def __init__(self, ctx: RunContext, cache: StepCache | None, calibration: Path | None = None):
        self.ctx, self.cache, self.calibration = ctx, cache, calibration
        # what every step is told of the model's inputs (part of its cache key): their shapes, batch axes and
        # dtypes, and whether the batch axes stay dynamic (bench.batch asks for other batches than input.batch)
        self.dynamic_batch = needs_dynamic_batch(ctx.cfg.bench.batch, ctx.cfg.input.batch)

    def run(self, spec: StepSpec, source: Artifact | None) -> list[Artifact] | None:
        """The step's artifacts (named after the step), or None when it failed or does not apply (recorded)."""
        record = StepRecord(name=spec.name, kind=spec.kind, input=spec.input, status="running",
                            log=str(self.ctx.log_path(spec.name)))
        self.ctx.results.steps.append(record)
        self.ctx.progress.step_started(spec.name)
        try:
            return self._run(spec, source, record)
        finally:
            self.ctx.progress.step_ended(record)

    def _run(self, spec: StepSpec, source: Artifact | None, record: StepRecord) -> list[Artifact] | None:
        if spec.options.get("precision") == "int8" and self.calibration:
            spec.options["calibration"] = str(self.calibration)
        spec.options["feeds"] = self.ctx.feed_data()
        spec.options.setdefault("dynamic_batch", self.dynamic_batch)
        if self.ctx.state:  # the export names a state output's batch axis after its state input's
            spec.options["state"] = self.ctx.state
        if spec.options.get("accuracy_aware") and spec.options.get("precision") == "int8":
            self._judge_with_the_task(spec.name, spec.options)
        key = step_key(spec.kind, spec.options, source.sha256 if source else "", step_module(spec.kind),
                       referenced_file_hashes(spec.options))
        record.cache_key = key
        cached = self.cache.lookup(key) if self.cache else None
        if cached:
            record.status, record.seconds = "cached", 0.0
            log.info("[%s] %s: cached", spec.name, spec.kind)
            return self._adopt(spec, record, cached)
        workdir = self.cache.reserve(key) if self.cache else self._private_workdir(spec.name)
        log.info("[%s] %s ...", spec.name, spec.kind)
        request = {"kind": spec.kind, "options": spec.options, "workdir": str(workdir),
                   "input": source.to_dict() if source else None, "result": str(workdir / "result.json")}
        child = run_child("converters.run_step", request, workdir / "request.json", Path(record.log),
                          spec.timeout_s)
        record.seconds = round(child.seconds, 3)
        answer = read_json(workdir / "result.json") or {}
        if "not_applicable" in answer:
            shutil.rmtree(workdir, ignore_errors=True)
            record.status, record.reason = "n/a", answer["not_applicable"]
            log.info("[%s] not applicable: %s", spec.name, record.reason)
            return None
        error = child.failure or answer.get("message") or ("" if answer else "wrote no result")
        if error:
            shutil.rmtree(workdir, ignore_errors=True)  # nothing half-written survives as an artifact
            record.status, record.error = "failed", error
            record.error_type = answer.get("error_type", "ChildProcess")
            record.node, record.op_type = answer.get("node"), answer.get("op_type")
            if record.error_type == "UserError":  # bad input (weights, file): the run's one-line answer
                raise UserError(error)
            log.error("[%s] failed after %.1fs: %s (log: %s)", spec.name, child.seconds, error, record.log)
            return None
        made = [Artifact.from_dict(data) for data in answer["artifacts"]]
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

    def _judge_with_the_task(self, step: str, options: dict) -> None:
        """What an accuracy-aware int8 step judges its candidates by: the run's pre/postprocess, validate.task and
        the target (the step's own, else the floor at int8; none: it quantizes everything, as without it)."""
        task = OmegaConf.to_container(self.ctx.cfg.validate.task, resolve=True)
        kind = self.ctx.processing.get("task")
        if options.get("target") is None:
            options["target"] = floor(task, kind, "int8")
        if options["target"] is None or kind not in TASK_METRICS:
            options["accuracy_aware"] = False
            return
        if options["accuracy_aware"] == "auto":
            # a search on random weights would tune the artifact to noise, for minutes, and prove nothing
            options["accuracy_aware"] = self.ctx.results.weights != "random"
            if not options["accuracy_aware"]:
                log.info("[%s] accuracy-aware int8 not run: the weights are random (accuracy_aware=auto searches "
                         "only for trained weights; graph.steps.%s.accuracy_aware=true searches anyway)", step, step)
                return
        options.update(processing=self.ctx.processing, task=task)

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
    def _adopt(spec: StepSpec, record: StepRecord, made: list[Artifact]) -> list[Artifact]:
        """Name the step's artifacts after the step (extras: step.suffix) and record the primary."""
        for i, artifact in enumerate(made):
            artifact.name = spec.name if i == 0 else f"{spec.name}.{artifact.name}"
        record.artifact = made[0].name
        return made

    def _private_workdir(self, name: str) -> Path:
        workdir = self.ctx.run_dir / "steps" / f".{name}.partial"
        for stale in (workdir, workdir.with_name(name)):
            shutil.rmtree(stale, ignore_errors=True)
        workdir.mkdir(parents=True)
        return workdir
