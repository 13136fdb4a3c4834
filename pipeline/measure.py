"""Benchmark one artifact: the latency row (one call as the run feeds it, one request at a time), then images/s at
each bench.batch size (only the inputs' batch axes scale). Each measurement is a bench.worker child process under
the machine-wide lock, so that no two runtimes are timed on the same cores; within one sweep an identical
measurement is made once."""
from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import replace
from pathlib import Path

from filelock import FileLock

import runtimes
from bench import progress_slot as slots
from bench.footprint import runtime_footprint
from bench.settings import batch_sizes, mode_for, throughput_plan, tune_candidates
from bench.timing import is_noisy
from bench.worker_protocol import BenchReply, BenchRequest
from core.artifact import Artifact
from core.child_protocol import parse
from pipeline.artifact_graph import ArtifactGraph
from pipeline.cache import ResultMemo, content_key
from pipeline.child import run_child
from pipeline.context import RunContext
from pipeline.records import Tuned, TuneTrial
from pipeline.results import BenchRow, Footprint, Measurement, ThroughputEntry
from runtimes.base import Settings

log = logging.getLogger("convgraph")
TUNE_MARGIN = 0.05  # bench.tune changes a setting only for a latency at least this much lower


def headline(row: Measurement) -> str:
    """One measurement in a log line."""
    if row.mode == "throughput":
        return f"{row.images_per_s.median:.1f} images/s at batch {row.batch}"
    return f"{row.infer_ms.median:.2f} ms median inference"


class Benchmarks:
    def __init__(self, ctx: RunContext, inputs: Path, inputs_sha: str, memo: ResultMemo | None,
                 graph: ArtifactGraph, judged: list[str] | None = None):
        self.ctx, self.inputs, self.inputs_sha = ctx, inputs, inputs_sha  # the input set the data inputs come from
        self.graph = graph  # the run's artifacts: bench.profile joins a profile onto the ONNX one came from
        self.memo = memo  # measurements shared by the jobs of one sweep
        self.judged = judged or []  # the input set's images: a larger batch is filled from them

    def benchmark(self, artifact: Artifact, image_paths: list[str]) -> BenchRow:
        bench, results = self.ctx.config.bench, self.ctx.results
        # the node names a runtime's profile is joined onto: the ONNX file the artifact was made from
        onnx = self.graph.onnx_source(artifact.name)
        tuned = self._tune(artifact, image_paths) if bench.tune else None
        override = tuned.chosen if tuned else None
        latency = self._measure(artifact, image_paths, self.ctx.call_batch, "latency",
                                onnx=onnx.path if onnx else None, override=override)
        row = BenchRow(**latency.model_dump(exclude_unset=True), tuned=tuned)
        results.bench.append(row)
        runtime = runtimes.for_format(artifact.format).name
        if runtime not in results.footprint:
            results.footprint[runtime] = Footprint(**runtime_footprint(runtime))
        whole = results.footprint[runtime]
        row.footprint = Footprint(version=whole.version, installed_mb=whole.installed_mb,
                                  runs_without_source=whole.runs_without_source)
        if not row.ok:
            return row
        row.noisy = is_noisy(row.infer_ms.model_dump(), bench.noisy_cv)
        row.throughput = []
        for size, how in throughput_plan(batch_sizes(bench.batch), self.ctx.call_batch):
            entry = ThroughputEntry(batch=size, mode=mode_for(size), status="ok")
            refusal = runtimes.batch_refusal(artifact, size, self.ctx.batch_axes)
            if how == "latency row":
                entry.images_per_s, entry.noisy, entry.source = row.throughput_ips, row.noisy, "latency row"
            elif refusal:
                entry.status, entry.reason = "skipped", refusal
                log.info("[bench] %s batch %d: skipped (%s)", artifact.name, size, refusal)
            else:
                paths = [self.judged[i % len(self.judged)] for i in range(size)] if image_paths else []
                measured = self._measure(artifact, paths, size, mode_for(size), f"{artifact.name}.b{size}",
                                         override=override)
                if measured.status == "ok":  # batch 1 beside a larger input.batch is measured in latency mode
                    stats = measured.images_per_s or measured.infer_ms
                    entry.images_per_s = measured.images_per_s.median if measured.images_per_s else \
                        measured.throughput_ips
                    entry.noisy = is_noisy(stats.model_dump(), bench.noisy_cv)
                    entry.measurement = measured
                else:
                    entry.status, entry.error, entry.log = "failed", measured.error, measured.log
            row.throughput.append(entry)
        return row

    def _tune(self, artifact: Artifact, image_paths: list[str]) -> Tuned | None:
        """bench.tune: the latency of each candidate setting of the artifact's runtime (bench.settings.tune_candidates),
        one after another under the lock; the fastest is chosen when it beats the settings as configured by
        TUNE_MARGIN (a failed one never). None: nothing to choose between (PyTorch, the reference, is measured as
        configured)."""
        runtime = runtimes.for_format(artifact.format)
        if runtime.name == "torch":
            return None
        candidates = tune_candidates(runtime.tunables, self.ctx.config.bench.threads, os.cpu_count() or 1)
        if len(candidates) < 2:
            return None
        trials = []
        for i, override in enumerate(candidates):
            measured = self._measure(artifact, image_paths, self.ctx.call_batch, "latency",
                                     f"{artifact.name}.tune{i}", override=override, profile=False)
            ok = measured.status == "ok"
            trials.append(TuneTrial(override=override, status=measured.status, error=measured.error,
                                    median_ms=measured.infer_ms.median if ok else None))
        timed = [t for t in trials if t.median_ms is not None]
        fastest = min(timed, key=lambda t: t.median_ms) if timed else None
        configured = trials[0].median_ms  # candidates[0] is {}: the settings as configured
        # a change must beat the noise of one measurement against another: TUNE_MARGIN faster than as configured
        chosen = fastest.override if fastest and (configured is None or
                                                  fastest.median_ms < configured * (1 - TUNE_MARGIN)) else {}
        log.info("[bench] %s: tuned, %s", artifact.name, ", ".join(
            f"{t.override or 'as configured'} {t.median_ms:.2f} ms" if t.median_ms is not None
            else f"{t.override} failed" for t in trials))
        return Tuned(chosen=chosen, trials=trials)

    def _measure(self, artifact: Artifact, image_paths: list[str], batch: int, mode: str,
                 tag: str = "", onnx: str | None = None, override: dict | None = None,
                 profile: bool = True) -> Measurement:
        """One bench.worker process under the machine-wide lock -> its measurement (status ok / failed)."""
        bench = self.ctx.config.bench
        tag = tag or artifact.name
        folder = self.ctx.folder("bench")
        result = folder / f"{tag}.json"
        # per-node, joined onto the ONNX it came from
        profiled = bool(bench.profile) and mode == "latency" and profile
        settings = parse(Settings, self.ctx.runtime_settings(artifact, batch, mode, override), "runtime settings")
        request = BenchRequest(artifact=artifact, settings=settings, feeds=tuple(self.ctx.feeds),
                               images=tuple(image_paths), data=str(self.inputs), rows=batch,
                               processing=self.ctx.processing, warmup=bench.warmup, runs=bench.runs,
                               result=str(result), profile=profiled, onnx=onnx if profiled else None)
        # Within one sweep the same artifact with the same settings is measured once (reused_from says so).
        key = content_key("bench", artifact.sha256, self.inputs_sha, request.measured())
        reused = self.memo.get(key) if self.memo else None
        if reused:
            origin = json.loads((reused / "artifacts.json").read_text())["origin"]
            measured = BenchReply.read(reused / "measurement.json").given()
            row = Measurement(**{**measured, "artifact": artifact.name, "reused_from": origin, "status": "ok"})
            log.info("[bench] %s: %s (reused from %s)", tag, headline(row), origin)
            self.ctx.progress.bench_ended(tag, "reused", f"{headline(row)} (from {origin})")
            return row
        log.info("[bench] %s (%s, %s) ...", tag, artifact.format, mode)
        # the live view's slot: after the key, which it must not change (a view is no part of a measurement)
        slot = slots.create(folder / f"{tag}.progress") if self.ctx.progress.live else None
        if slot:
            request = replace(request, progress=str(slot))
        try:
            with FileLock(bench.lock_file):
                self.ctx.progress.bench_started(tag, f"{artifact.format}, {mode}", slot)
                child = run_child(request, folder / f"{tag}.request.json", self.ctx.log_path(f"bench.{tag}"),
                                  bench.timeout_s)
            answer = BenchReply.read_if_any(result)
            row = Measurement(**answer.given(), status="ok") if answer and not child.failure else None
            self.ctx.progress.bench_ended(tag, "ok" if row else "failed", headline(row) if row else
                                          child.failure or "wrote no result")
        finally:
            if slot:
                slot.unlink(missing_ok=True)
        if row is None:
            error = f"{child.failure or 'wrote no result'}: {child.last_line()}"
            log.error("[bench] %s failed: %s (log: %s)", tag, error, child.log)
            return Measurement(artifact=artifact.name, runtime=runtimes.for_format(artifact.format).name,
                               status="failed", error=error, log=str(child.log))
        if self.memo:
            shutil.copyfile(result, folder / "measurement.json")
            self.memo.put(key, [folder / "measurement.json"], str(self.ctx.run_dir))
        log.info("[bench] %s: %s", tag, headline(row))
        return row
