"""Walk a conversion graph: source model, then each step in dependency order with a parity check after
it, then a benchmark of every artifact; write results.json and report.md and print the table.

Steps, parity runs and benchmarks each run in a child process (pipeline.child); this process only
orchestrates and never imports torch, TensorFlow or a runtime.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from bench.environment import environment, package_versions
from bench.footprint import RUNTIME_PACKAGES, runtime_footprint
from bench.plots import plot_timing
from bench.report import headline, print_table, write_results
from bench.settings import batch_sizes, mode_for, throughput_plan
from bench.timing import is_noisy
from converters import SOURCE_STEP, step_module
from core.artifact import Artifact
from core.errors import UserError
from core.images import cycled_paths, images_digest, load_images
from core.images import image_paths as image_paths_in
from core.prepost import Processing, preprocess
from pipeline.cache import ResultMemo, StepCache, content_key, module_sources, referenced_file_hashes, step_key
from pipeline.child import run_child
from pipeline.config_check import check_config, check_model_file, source_format
from pipeline.graph import SOURCE, StepSpec, descendants, resolve_steps, start_from
from pipeline.locks import exclusive
from validators.parity import ParityReport, compare
from validators.runtimes import RUNTIME_OF_FORMAT, batch_refusal, settings_data
from validators.task_metrics import describe, task_agreement

log = logging.getLogger("convgraph")
OUTPUTS_CODE = ("validators.runtimes", "validators.infer")  # what computes a runtime's outputs on given inputs


def processing_config(cfg: DictConfig) -> dict:
    return {**OmegaConf.to_container(cfg.model.preprocess, resolve=True), "task": cfg.model.task,
            "size": cfg.input.size,
            "postprocess": OmegaConf.to_container(cfg.model.postprocess, resolve=True)
            if cfg.model.get("postprocess") else {}}


@dataclass
class GraphRun:
    cfg: DictConfig
    run_dir: Path
    results: dict
    cache: StepCache | None = None
    calibration: Path | None = None  # preprocessed calibration images (.npy, NCHW float32)
    parents: dict[str, str] = field(default_factory=dict)  # artifact -> the artifact it was converted from
    inputs_sha: str = ""
    outputs_memo: ResultMemo | None = None  # runtimes' outputs on these inputs, by content
    bench_memo: ResultMemo | None = None  # measurements shared by the jobs of one sweep
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    reference_outputs: list[np.ndarray] | None = None

    # ---- steps -------------------------------------------------------------------------------------
    def run_step(self, spec: StepSpec, source: Artifact | None) -> list[Artifact] | None:
        record = {"name": spec.name, "kind": spec.kind, "input": spec.input, "status": "running",
                  "seconds": None, "artifact": None, "log": str(self.log_path(spec.name))}
        self.results["steps"].append(record)
        if spec.options.get("precision") == "int8" and self.calibration:
            spec.options["calibration"] = str(self.calibration)
        key = step_key(spec.kind, spec.options, source.sha256 if source else "", step_module(spec.kind),
                       referenced_file_hashes(spec.options))
        record["cache_key"] = key
        cached = self.cache.lookup(key) if self.cache else None
        if cached:
            record.update(status="cached", seconds=0.0)
            log.info("[%s] %s: cached", spec.name, spec.kind)
            return self._adopt(spec, record, cached)
        workdir = self.cache.reserve(key) if self.cache else self._private_workdir(spec.name)
        log.info("[%s] %s ...", spec.name, spec.kind)
        request = {"kind": spec.kind, "options": spec.options, "workdir": str(workdir),
                   "input": source.to_dict() if source else None, "result": str(workdir / "result.json")}
        child = run_child("converters.run_step", request, workdir / "request.json",
                          self.log_path(spec.name), spec.timeout_s)
        record["seconds"] = round(child.seconds, 3)
        answer = _read_json(workdir / "result.json") or {}
        if "not_applicable" in answer:
            shutil.rmtree(workdir, ignore_errors=True)
            record.update(status="n/a", reason=answer["not_applicable"])
            log.info("[%s] not applicable: %s", spec.name, answer["not_applicable"])
            return None
        error = child.failure or answer.get("message") or ("" if answer else "wrote no result")
        if error:
            shutil.rmtree(workdir, ignore_errors=True)  # nothing half-written survives as an artifact
            record.update(status="failed", error_type=answer.get("error_type", "ChildProcess"), error=error)
            if record["error_type"] == "UserError":  # bad input (weights, file): the run's one-line answer
                raise UserError(error)
            log.error("[%s] failed after %.1fs: %s (log: %s)", spec.name, child.seconds, error, record["log"])
            return None
        made = [Artifact.from_dict(data) for data in answer["artifacts"]]
        if self.cache:
            made = self.cache.publish(key, workdir, made)
        else:
            final = self.run_dir / "steps" / spec.name
            workdir.rename(final)
            for artifact in made:
                artifact.path = artifact.path.replace(str(workdir), str(final), 1)
        record["status"] = "ok"
        log.info("[%s] ok in %.1fs -> %s (%.2f MB)", spec.name, child.seconds, made[0].format,
                 made[0].bytes / 2**20)
        return self._adopt(spec, record, made)

    def _adopt(self, spec: StepSpec, record: dict, made: list[Artifact]) -> list[Artifact]:
        """Name the step's artifacts after the step (extras: step.suffix) and record the primary."""
        for i, artifact in enumerate(made):
            artifact.name = spec.name if i == 0 else f"{spec.name}.{artifact.name}"
        record["artifact"] = made[0].name
        return made

    def _private_workdir(self, name: str) -> Path:
        workdir = self.run_dir / "steps" / f".{name}.partial"
        for stale in (workdir, workdir.with_name(name)):
            shutil.rmtree(stale, ignore_errors=True)
        workdir.mkdir(parents=True)
        return workdir

    def log_path(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    # ---- parity ------------------------------------------------------------------------------------
    def outputs_of(self, artifact: Artifact) -> tuple[list[np.ndarray] | None, dict, str]:
        folder = self.run_dir / "parity"
        folder.mkdir(exist_ok=True)
        out, info = folder / f"{artifact.name}.npz", folder / f"{artifact.name}.json"
        settings = self.runtime_settings(artifact)
        # A runtime's outputs on fixed inputs are deterministic: computed once per (artifact, inputs, settings).
        runtime = RUNTIME_OF_FORMAT.get(artifact.format, artifact.format)
        # ... and of the runtime's version and our adapter's code (a fixed output mapping must not hit old outputs)
        code = hashlib.sha256(module_sources(OUTPUTS_CODE).encode()).hexdigest()
        key = content_key("outputs", artifact.sha256, artifact.format, self.inputs_sha, settings,
                          package_versions(RUNTIME_PACKAGES.get(runtime, ())), code)
        memo = self.outputs_memo.get(key) if self.outputs_memo else None
        if memo:
            shutil.copyfile(memo / "outputs.npz", out)
            shutil.copyfile(memo / "info.json", info)
        else:
            request = {"artifact": artifact.to_dict(), "settings": settings,
                       "inputs": str(self.run_dir / "inputs.npz"), "outputs": str(out), "info": str(info)}
            child = run_child("validators.infer", request, folder / f"{artifact.name}.request.json",
                              self.log_path(f"parity.{artifact.name}"), self.cfg.bench.timeout_s)
            if child.failure or not out.exists():
                why = child.failure or "wrote no outputs"
                return None, {}, f"runtime {why}: {child.last_line()} (log: {child.log})"
            if self.outputs_memo:
                named = folder / "outputs.npz", folder / "info.json"
                shutil.copyfile(out, named[0])
                shutil.copyfile(info, named[1])
                self.outputs_memo.put(key, list(named), str(self.run_dir))
        with np.load(out) as data:
            outputs = [data[f"arr_{i}"] for i in range(len(data.files))]
        return outputs, _read_json(info) or {}, ""

    def check_parity(self, artifact: Artifact) -> None:
        reference = self.artifacts[SOURCE]
        names = [o.name for o in reference.outputs]
        outputs, info, error = self.outputs_of(artifact)
        tol = OmegaConf.to_container(self.cfg.validate.tolerances[artifact.precision])
        override = OmegaConf.select(self.cfg, f"model.tolerances.{artifact.precision}")  # a model's own, e.g. pixels
        tol.update(OmegaConf.to_container(override) if override else {})
        if error:
            report = ParityReport(artifact.name, reference.name, artifact.precision, False)
            entry = {**report.to_dict(), "error": error}
            log.error("[%s] parity not run: %s", artifact.name, error)
        else:
            report = compare(artifact.name, reference.name, artifact.precision, self.reference_outputs,
                             outputs, names, tol)
            # Task view (same objects / classes found?) through the deploy postprocess; can fail parity too.
            task = task_agreement(self.reference_outputs, outputs, processing_config(self.cfg),
                                  OmegaConf.to_container(self.cfg.validate.task), artifact.precision)
            passed = report.passed and (task is None or task["passed"])
            entry = {**report.to_dict(), "passed": passed, "tolerance": tol, "task": task,
                     "executed_precision": info.get("executed_precision")}
            worst = max((o.max_abs or 0.0) for o in report.outputs)
            agreement = f"; {describe(task)}" if task else ""
            if passed:
                log.info("[%s] parity passed (max abs %.3g vs %s%s)", artifact.name, worst, reference.name, agreement)
            else:
                log.error("[%s] parity FAILED: %s%s", artifact.name, report.failure_line() or "task agreement "
                          f"below {(task or {}).get('min_agreement')}", agreement)
            if not passed or self.cfg.validate.localize:
                entry["divergence"] = self.localize(artifact, tol)
        self.results["parity"].append(entry)

    def localize(self, artifact: Artifact, tol: dict) -> dict:
        """First node whose output diverges, against the nearest ONNX ancestor (validators.localize)."""
        source = self.onnx_ancestor(artifact.name)
        if source is None:
            return {"found": False, "reason": "no ONNX ancestor that passed parity to compare tensors with"}
        if tol.get("atol") is None:
            return {"found": False, "reason": f"{artifact.precision} has no per-tensor tolerance (judged by cosine)"}
        folder = self.run_dir / "parity"
        result = folder / f"{artifact.name}.localize.json"
        request = {"source": source.path, "artifact": artifact.to_dict(), "inputs": str(self.run_dir / "inputs.npz"),
                   "atol": tol["atol"], "rtol": tol["rtol"], "result": str(result)}
        child = run_child("validators.localize", request, folder / f"{artifact.name}.localize.request.json",
                          self.log_path(f"localize.{artifact.name}"), self.cfg.bench.timeout_s)
        found = _read_json(result) or {"found": False, "reason": f"localization {child.failure or 'wrote nothing'}"}
        found["against"] = source.name
        if found.get("found"):
            log.error("[%s] first divergence vs %s: node %r (%s), max abs %.3g", artifact.name, source.name,
                      found["node"], found["op_type"], found["max_abs"])
        return found

    def onnx_ancestor(self, name: str) -> Artifact | None:
        """The nearest ONNX ancestor that passed parity: the last point known to be right."""
        passed = {p["artifact"] for p in self.results["parity"] if p["passed"]}
        parent = self.parents.get(name)
        while parent is not None and parent in self.artifacts:
            if self.artifacts[parent].format == "onnx" and parent in passed:
                return self.artifacts[parent]
            parent = self.parents.get(parent)
        return None

    def runtime_settings(self, artifact: Artifact, batch: int = 0, mode: str = "latency") -> dict:
        """validators.runtimes.Settings as data: threads, precision, this runtime's block of bench.runtime;
        batch 0 (parity) = whatever batch the inputs have."""
        runtime = RUNTIME_OF_FORMAT.get(artifact.format, artifact.format)
        return settings_data(OmegaConf.to_container(self.cfg.bench, resolve=True), runtime, artifact.precision,
                             batch, mode)

    # ---- benchmark ---------------------------------------------------------------------------------
    def benchmark(self, artifact: Artifact, image_paths: list[str]) -> None:
        """The latency row (input.batch, one request at a time), then images/s at each bench.batch size."""
        row = self._measure(artifact, image_paths, "latency")
        self.results["bench"].append(row)
        runtime = RUNTIME_OF_FORMAT.get(artifact.format, artifact.format)
        footprints = self.results.setdefault("footprint", {})
        if runtime in RUNTIME_PACKAGES and runtime not in footprints:
            footprints[runtime] = runtime_footprint(runtime)
        if runtime in footprints:
            row["footprint"] = {k: footprints[runtime][k] for k in ("version", "installed_mb", "runs_without_source")}
        if row["status"] != "ok":
            return
        row["noisy"] = is_noisy(row["infer_ms"], self.cfg.bench.noisy_cv)
        row["throughput"] = []
        for size, how in throughput_plan(batch_sizes(self.cfg.bench.batch), self.cfg.input.batch):
            entry = {"batch": size, "mode": mode_for(size)}
            refusal = batch_refusal(artifact, size)
            if how == "latency row":
                entry.update(status="ok", images_per_s=row["throughput_ips"], noisy=row["noisy"], source="latency row")
            elif refusal:
                entry.update(status="skipped", reason=refusal)
                log.info("[bench] %s batch %d: skipped (%s)", artifact.name, size, refusal)
            else:
                paths = cycled_paths(self.cfg.input.images, size)  # the worker decodes them
                measured = self._measure(artifact, paths, mode_for(size), f"{artifact.name}.b{size}")
                if measured["status"] == "ok":
                    entry.update(status="ok", images_per_s=measured["images_per_s"]["median"],
                                 noisy=is_noisy(measured["images_per_s"], self.cfg.bench.noisy_cv),
                                 measurement=measured)
                else:
                    entry.update(status="failed", error=measured["error"], log=measured.get("log"))
            row["throughput"].append(entry)

    def _measure(self, artifact: Artifact, image_paths: list[str], mode: str, tag: str = "") -> dict:
        """One bench.worker process under the machine-wide lock -> its result row (status ok / failed)."""
        tag = tag or artifact.name
        folder = self.run_dir / "bench"
        folder.mkdir(exist_ok=True)
        result = folder / f"{tag}.json"
        request = {"artifact": artifact.to_dict(), "settings": self.runtime_settings(artifact, len(image_paths), mode),
                   "images": image_paths, "processing": processing_config(self.cfg),
                   "warmup": self.cfg.bench.warmup, "runs": self.cfg.bench.runs, "result": str(result)}
        # Within one sweep the same artifact with the same settings is measured once (reused_from says so).
        key = content_key("bench", artifact.sha256, {k: v for k, v in request.items() if k not in
                                                      ("artifact", "result")})
        reused = self.bench_memo.get(key) if self.bench_memo else None
        if reused:
            row = {**json.loads((reused / "measurement.json").read_text()), "artifact": artifact.name,
                   "reused_from": json.loads((reused / "artifacts.json").read_text())["origin"], "status": "ok"}
            log.info("[bench] %s: %s (reused from %s)", tag, headline(row), row["reused_from"])
            return row
        log.info("[bench] %s (%s, %s) ...", tag, artifact.format, mode)
        with exclusive(Path(self.cfg.bench.lock_file)):
            child = run_child("bench.worker", request, folder / f"{tag}.request.json",
                              self.log_path(f"bench.{tag}"), self.cfg.bench.timeout_s)
        row = _read_json(result)
        if row and not child.failure and self.bench_memo:
            shutil.copyfile(result, folder / "measurement.json")
            self.bench_memo.put(key, [folder / "measurement.json"], str(self.run_dir))
        if child.failure or not row:
            error = f"{child.failure or 'wrote no result'}: {child.last_line()}"
            log.error("[bench] %s failed: %s (log: %s)", tag, error, child.log)
            return {"artifact": artifact.name, "runtime": RUNTIME_OF_FORMAT.get(artifact.format), "status": "failed",
                    "error": error, "log": str(child.log)}
        row["status"] = "ok"
        log.info("[bench] %s: %s", tag, headline(row))
        return row


def run(cfg: DictConfig, run_dir: Path, sweep_dir: Path | None = None) -> int:
    """Run the whole graph; returns the process exit code (0 only when everything converted and passed)."""
    check_model_file(cfg)
    absolutize_paths(cfg)
    check_config(cfg)
    steps = start_from(resolve_steps(cfg.graph, cfg.steps.timeout_s), source_format(cfg))
    for sub in ("logs", "steps"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    # parity runs on every image of the input set (cycled up to a whole number of batches); the benchmark
    # times one batch of input.batch images
    count = cfg.input.count or len(image_paths_in(cfg.input.images))
    count = -(-max(count, cfg.input.batch) // cfg.input.batch) * cfg.input.batch
    images, all_paths = load_images(cfg.input.images, count)
    image_paths = all_paths[: cfg.input.batch]
    batch = preprocess(images, Processing.from_config(processing_config(cfg)))
    np.savez(run_dir / "inputs.npz", input=batch)
    inputs_sha = hashlib.sha256(repr(batch.shape).encode() + batch.tobytes()).hexdigest()
    results = {
        "graph": cfg.graph.get("name", "?"), "model": cfg.model.name, "status": "running",
        "run_dir": str(run_dir), "precision": cfg.precision, "opset": cfg.opset,
        "inputs": {"images": all_paths, "count": len(all_paths), "sha256": images_digest(all_paths),
                   "bench_images": image_paths, "batch": cfg.input.batch, "size": cfg.input.size},
        "environment": environment(), "steps": [], "artifacts": [], "parity": [], "bench": [],
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    cache = StepCache(Path(cfg.cache.dir)) if cfg.cache.enabled else None
    graph_run = GraphRun(cfg, run_dir, results, cache, inputs_sha=inputs_sha)
    if cache:
        graph_run.outputs_memo = ResultMemo(Path(cfg.cache.dir) / "outputs")
    if sweep_dir and cfg.bench.reuse_in_sweep:
        graph_run.bench_memo = ResultMemo(sweep_dir / ".bench")
    if any(s.options.get("precision") == "int8" for s in steps):
        graph_run.calibration, results["calibration"] = prepare_calibration(cfg, run_dir)
    started = time.perf_counter()
    try:
        _convert_and_check(graph_run, steps)
        if cfg.bench.enabled:
            for artifact in _artifacts_to_bench(graph_run.artifacts, steps):
                graph_run.benchmark(artifact, image_paths)
        results["status"] = _final_status(results, cfg)
    except KeyboardInterrupt:
        results["status"] = "interrupted"
        running = [s["name"] for s in results["steps"] if s["status"] == "running"]
        log.error("interrupted%s; what finished is kept in %s", f" during step {running[0]}" if running
                  else "", run_dir)
        raise
    finally:
        if results["status"] == "running":  # left by an exception of another kind: never leave "running"
            results["status"] = "failed"
        for step in results["steps"]:
            if step["status"] == "running":
                step["status"] = "interrupted" if results["status"] == "interrupted" else "failed"
        results["artifacts"] = [a.to_dict() for a in graph_run.artifacts.values()]
        results["seconds"] = round(time.perf_counter() - started, 2)
        write_results(results, run_dir)
    picture = plot_timing(results, run_dir / "timing.png")
    print_table(results)
    if picture:
        print(f"pre / inference / post per runtime: {picture}")
    code = 0 if results["status"] == "ok" else 1
    if cfg.get("select") is not None and sweep_dir is None:  # a sweep selects across its jobs (bench.summary)
        from bench.selection_report import finish_run

        code = max(code, finish_run(results, OmegaConf.to_container(cfg.select, resolve=True), run_dir))
    return code


def prepare_calibration(cfg: DictConfig, run_dir: Path) -> tuple[Path, dict]:
    """The same preprocessed images for every backend's int8 calibration (.npy: byte-stable, so cacheable)."""
    images, paths = load_images(cfg.calibration.images, cfg.calibration.count, cycle=False)
    path = run_dir / "calibration.npy"
    np.save(path, preprocess(images, Processing.from_config(processing_config(cfg))))
    return path, {"count": len(paths), "sha256": images_digest(paths), "images": paths}


def absolutize_paths(cfg: DictConfig) -> None:
    """Children run from the repo root: a user's relative paths must mean what they meant in their cwd."""
    for node, key in ((cfg.model, "weights"), (cfg.model, "path"), (cfg.input, "images"),
                      (cfg.calibration, "images")):
        if not OmegaConf.is_missing(node, key) and node.get(key):
            node[key] = str(Path(node[key]).expanduser().resolve())


def _convert_and_check(graph_run: GraphRun, steps: list[StepSpec]) -> None:
    cfg = graph_run.cfg
    source_spec = StepSpec(SOURCE, SOURCE_STEP[cfg.model.source], "", {
        "model": OmegaConf.to_container(cfg.model, resolve=True), "seed": cfg.seed,
        "batch": cfg.input.batch, "size": cfg.input.size}, cfg.steps.timeout_s)
    made = graph_run.run_step(source_spec, None)
    if not made:
        for spec in steps:
            _mark_skipped(graph_run, spec, SOURCE)
        return
    graph_run.artifacts[SOURCE] = made[0]
    outputs, _, error = graph_run.outputs_of(made[0])
    if error:
        raise RuntimeError(f"the reference model could not run: {error}")
    graph_run.reference_outputs = outputs
    skipped: dict[str, str] = {}  # step -> status it inherits ("skipped" after a failure, "n/a")
    for spec in steps:
        if spec.name in skipped:
            _mark_skipped(graph_run, spec, spec.input, skipped[spec.name])
            continue
        if spec.when_precision and cfg.precision not in spec.when_precision:
            graph_run.results["steps"].append({
                "name": spec.name, "kind": spec.kind, "input": spec.input, "status": "n/a", "seconds": 0.0,
                "artifact": None, "reason": f"runs only at precision {', '.join(spec.when_precision)}"})
            skipped.update(dict.fromkeys(descendants(steps, spec.name), "n/a"))
            continue
        made = graph_run.run_step(spec, graph_run.artifacts[spec.input])
        if not made:
            status = "n/a" if graph_run.results["steps"][-1]["status"] == "n/a" else "skipped"
            skipped.update(dict.fromkeys(descendants(steps, spec.name), status))
            continue
        for artifact in made:
            graph_run.artifacts[artifact.name] = artifact
            graph_run.parents[artifact.name] = spec.input
            graph_run.check_parity(artifact)


def _mark_skipped(graph_run: GraphRun, spec: StepSpec, because: str, status: str = "skipped") -> None:
    why = f"input {because!r} " + ("failed" if status == "skipped" else "not applicable")
    graph_run.results["steps"].append({"name": spec.name, "kind": spec.kind, "input": spec.input,
                                       "status": status, "seconds": 0.0, "artifact": None,
                                       "error" if status == "skipped" else "reason": why})
    (log.warning if status == "skipped" else log.info)("[%s] %s: %s", spec.name, status, why)


def _artifacts_to_bench(artifacts: dict[str, Artifact], steps: list[StepSpec]) -> list[Artifact]:
    """Every artifact except one that a child step of the same format and precision supersedes (the raw
    export, when a simplified ONNX was made from it). A lower-precision child keeps its parent in the table."""
    by_name = {s.name: s for s in steps}
    superseded = set()
    for name, artifact in artifacts.items():
        parent = artifacts.get(by_name[name].input) if name in by_name else None
        if parent and (parent.format, parent.precision) == (artifact.format, artifact.precision):
            superseded.add(parent.name)
    return [a for name, a in artifacts.items() if name not in superseded - {SOURCE}]


def _final_status(results: dict, cfg: DictConfig) -> str:
    failed = any(s["status"] in ("failed", "skipped") for s in results["steps"])  # "n/a" is no failure
    failed |= any(b.get("status") == "failed" for b in results["bench"])
    failed |= cfg.validate.fail_run_on_mismatch and not all(p["passed"] for p in results["parity"])
    return "failed" if failed else "ok"


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
