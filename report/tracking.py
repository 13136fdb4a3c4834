"""+tracking=mlflow: every job logged as an MLflow run, to compare runs over weeks (`mlflow ui`).

A Hydra callback (conf/tracking/mlflow.yaml adds it): when a job ends, its overrides become params; per
benchmarked artifact its median ms, speed-up over PyTorch eager, task agreement and worst parity error become
metrics; results.json, report.html and the deploy bundle's manifest.json become artifacts. The jobs of a sweep are
nested under one parent run (MLflow's `mlflow.parentRunId` tag), which gets the sweep's summary files.

The only module that imports mlflow (an import-linter contract): MLflow is the optional `track` extra.
"""
from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode

from pipeline.results import FILE, RunResults, load_results
from report.summary import as_typed

PARENT_FILE = "mlflow_parent_run"  # the sweep's parent run id, in the sweep dir: jobs may run in other processes
RUN_FILES = ("results.json", "report.html", "report.md", "timing.png", "selection.png")
SWEEP_FILES = ("summary.html", "summary.md", "summary.csv", "selection.json", "selection.png",
               "latency_by_runtime.png", "latency_vs_accuracy.png")


def store_uri(uri: str) -> str:
    """A path (relative to where convert.py was started) as a file: URI; any other URI as given."""
    if len(urlparse(uri).scheme) > 1:  # 'C:' is a drive, not a scheme
        return uri
    start = Path(HydraConfig.get().runtime.cwd) if HydraConfig.initialized() else Path.cwd()
    return (start / Path(uri).expanduser()).resolve().as_uri()


def params(overrides: list[str]) -> dict[str, str]:
    """The job's command-line overrides, `key=value` each; a deleted key (~key) is recorded as `(removed)`."""
    out = {}
    for override in overrides:
        key, _, value = override.partition("=")
        out[key.lstrip("+~")] = "(removed)" if key.startswith("~") else as_typed(value)
    return out


def metrics(results: RunResults) -> dict[str, float]:
    """Per benchmarked artifact (`ARTIFACT/median_ms`, ...): the figures a team compares runs on."""
    out = {}
    for bench in results.ok_bench():
        name = bench.artifact
        out[f"{name}/median_ms"] = bench.infer_ms.median
        out[f"{name}/p90_ms"] = bench.infer_ms.p90
        speedup = results.speedup(bench)
        if speedup is not None:
            out[f"{name}/speedup_vs_torch"] = speedup
    for check in results.parity:
        if check.agreement is not None:
            out[f"{check.artifact}/task_agreement"] = check.agreement
        if check.worst_abs() is not None:
            out[f"{check.artifact}/parity_max_abs_err"] = check.worst_abs()
    if results.seconds is not None:
        out["run_seconds"] = results.seconds
    return out


def tags(results: RunResults) -> dict[str, str]:
    env = results.environment
    found = {"model": results.model, "graph": results.graph, "precision": results.precision,
             "weights": results.weights, "status": results.status, "run_dir": results.run_dir,
             "cpu": env.cpu.model if env else None, "host": env.host if env else None,
             "pick": (results.selection or {}).get("pick")}
    return {k: str(v) for k, v in found.items() if v is not None}


class MlflowTracking(Callback):
    """Hydra callback: logs each job (on_job_end) and nests a sweep's jobs under one parent run."""

    def __init__(self, uri: str, experiment: str = "convgraph") -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            # Hydra builds its callbacks before any job: stop here, in one line, before anything runs
            print("error: +tracking=mlflow needs MLflow, which is not installed: pip install '.[track]' "
                  "(make setup installs it)", file=sys.stderr)
            sys.exit(2)
        # MLflow 3 keeps the file store (./mlruns) in maintenance mode and refuses it unless asked: it needs no
        # server and no database, which is why it is the default here; a sqlite:// or http:// URI works as well.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        if not uri.strip():  # '' would make the folder convert.py started in the store (and write into it)
            print("error: tracking.uri='' is not allowed; give a folder or an MLflow tracking URI", file=sys.stderr)
            sys.exit(2)
        self.uri, self.experiment = store_uri(uri), experiment
        self.client = MlflowClient(tracking_uri=self.uri)

    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment)
        return found.experiment_id if found else self.client.create_experiment(self.experiment)

    def on_multirun_start(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        parent = self.client.create_run(self._experiment_id(), run_name=f"sweep {sweep_dir.name}",
                                        tags={"sweep_dir": str(sweep_dir), "sweep": " ".join(
                                            config.hydra.overrides.task)})
        (sweep_dir / PARENT_FILE).write_text(parent.info.run_id)

    def on_multirun_end(self, config, **kwargs) -> None:
        # Hydra ends its callbacks in reverse order: report.sweep.SweepEnd, listed first, writes the summary after
        # this returns (and may exit 1). So the parent is closed at exit, when the summary is there.
        sweep_dir = Path(config.hydra.sweep.dir)
        atexit.register(self._close_parent, sweep_dir, (sweep_dir / PARENT_FILE).read_text().strip())

    def _close_parent(self, sweep_dir: Path, parent: str) -> None:
        """The sweep's summary files on the parent run; FAILED when a job's run did not finish ok."""
        self._log_files(parent, sweep_dir, SWEEP_FILES)
        children = self.client.search_runs([self._experiment_id()],
                                           filter_string=f"tags.mlflow.parentRunId = '{parent}'")
        failed = not children or any(run.info.status != "FINISHED" for run in children)
        self.client.set_terminated(parent, "FAILED" if failed else "FINISHED")

    def _log_files(self, run_id: str, folder: Path, names: tuple[str, ...]) -> None:
        """The named files the folder has, and its deploy bundle's manifest when a selection wrote one."""
        for name in names:
            if (folder / name).is_file():
                self.client.log_artifact(run_id, str(folder / name))
        manifest = folder / "deploy" / "manifest.json"
        if manifest.is_file():
            self.client.log_artifact(run_id, str(manifest), artifact_path="deploy")

    def on_job_end(self, config, job_return: JobReturn, **kwargs) -> None:
        run_dir = Path(config.hydra.runtime.output_dir)
        multirun = config.hydra.mode == RunMode.MULTIRUN
        run_tags = {}
        if multirun:
            run_tags["mlflow.parentRunId"] = (Path(config.hydra.sweep.dir) / PARENT_FILE).read_text().strip()
        try:
            results = load_results(run_dir / FILE)
        except (FileNotFoundError, ValueError):
            results = None
        name = f"{results.model} {results.graph} {results.precision}" if results else "no results.json"
        name = f"job {run_dir.name}: {name}" if multirun else name  # the jobs of a sweep often share the rest
        run = self.client.create_run(self._experiment_id(), run_name=name,
                                     tags={**run_tags, **(tags(results) if results else {})})
        run_id = run.info.run_id
        for key, value in params(list(config.hydra.overrides.task)).items():
            self.client.log_param(run_id, key, value)
        for key, value in (metrics(results) if results else {}).items():
            self.client.log_metric(run_id, key, value)
        self._log_files(run_id, run_dir, RUN_FILES)
        ok = job_return.status == JobStatus.COMPLETED and job_return.return_value == 0 and results is not None \
            and results.status == "ok"
        self.client.set_terminated(run_id, "FINISHED" if ok else "FAILED")
