"""+tracking=mlflow: every job logged as an MLflow run, to compare runs over weeks (`mlflow ui`).

A Hydra callback (conf/tracking/mlflow.yaml adds it): when a job ends, its overrides become params; per
benchmarked artifact its median ms, speed-up over PyTorch eager, task agreement and worst parity error become
metrics; results.json, report.html and the deploy bundle's manifest.json become artifacts. The jobs of a sweep are
nested under one parent run (MLflow's `mlflow.parentRunId` tag), which gets the sweep's summary files.

The store (tracking.uri) is tried when Hydra builds the callback, before anything runs: a URI MLflow cannot use
stops there in one line, as does a store that fails later, at the end of a job.

The only module that imports mlflow (an import-linter contract): MLflow is the optional `track` extra.
"""
from __future__ import annotations

import atexit
import importlib.util
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlparse

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode

from core.errors import first_line
from pipeline.results import FILE, RunResults, load_results
from report.summary import as_typed

PARENT_FILE = "mlflow_parent_run"  # the sweep's parent run id, in the sweep dir: jobs may run in other processes
RUN_FILES = ("results.json", "report.html", "report.md", "timing.png", "selection.png")
SWEEP_FILES = ("summary.html", "summary.md", "summary.csv", "selection.json", "selection.png",
               "latency_by_runtime.png", "latency_vs_accuracy.png")
USABLE = "give a folder, sqlite:///FILE or the http://HOST:PORT of a running MLflow tracking server"
# While the store is first tried: MLflow's own HTTP retries last minutes (made for a rate-limited server), which
# would keep a run whose server is not there from saying so that long; and each retry is a warning from urllib3.
# One request, then, for at most 30 s (unless the user set MLflow's timeout): a server just started on a busy
# machine takes over 10 s to answer its first request (it opens its store then).
PROBE_RETRIES, PROBE_TIMEOUT_S = "0", "30"


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
    """Per artifact (`ARTIFACT/median_ms`, ...): the figures a team compares runs on, one line each; a figure
    the run does not have (None) is left out."""
    figures = [("run_seconds", results.seconds)]
    for bench in results.ok_bench():
        figures += [(f"{bench.artifact}/median_ms", bench.infer_ms.median),
                    (f"{bench.artifact}/p90_ms", bench.infer_ms.p90),
                    (f"{bench.artifact}/speedup_vs_torch", results.speedup(bench))]
    for check in results.parity:
        figures += [(f"{check.artifact}/task_agreement", check.agreement),
                    (f"{check.artifact}/parity_max_abs_err", check.worst_abs())]
    for entry in results.accuracy:  # against the ground truth: the value, the drop and its interval
        figures += [(f"{entry.artifact}/accuracy", entry.value), (f"{entry.artifact}/accuracy_drop", entry.drop),
                    (f"{entry.artifact}/accuracy_drop_low", entry.low),
                    (f"{entry.artifact}/accuracy_drop_high", entry.high)]
    return {key: value for key, value in figures if value is not None}


def tags(results: RunResults) -> dict[str, str]:
    env = results.environment
    found = {"model": results.model, "graph": results.graph, "precision": results.precision,
             "weights": results.weights, "status": results.status, "run_dir": results.run_dir,
             "cpu": env.cpu.model if env else None, "host": env.host if env else None,
             "pick": results.selection.pick if results.selection else None}
    return {k: str(v) for k, v in found.items() if v is not None}


def root_cause(error: BaseException) -> str:
    """The innermost error's first line: MLflow wraps a refused connection in four layers of messages."""
    while (inner := error.__cause__ or error.__context__) is not None:
        error = inner
    return first_line(error)


def stop(line: str) -> NoReturn:
    # In a Hydra callback a raised error reaches the user wrapped in Hydra's "Error in call to target"
    print(f"error: {line}", file=sys.stderr)
    sys.exit(2)


@contextmanager
def probing():
    """MLflow's HTTP requests not retried and waited for PROBE_TIMEOUT_S; then its settings as they were."""
    probe = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": PROBE_RETRIES,
             "MLFLOW_HTTP_REQUEST_TIMEOUT": os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", PROBE_TIMEOUT_S)}
    saved = {key: os.environ.get(key) for key in probe}
    os.environ.update(probe)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def open_database(uri: str) -> None:
    """Connect once: MLflow tries a database it cannot open for about 100 s, with a warning every time."""
    from sqlalchemy import create_engine, make_url

    url = make_url(uri)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)  # as MLflow does for a new file
    engine = create_engine(url)
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


class MlflowTracking(Callback):
    """Hydra callback: logs each job (on_job_end) and nests a sweep's jobs under one parent run."""

    def __init__(self, uri: str, experiment: str = "convgraph", artifact_location: str = "./mlartifacts") -> None:
        try:
            from mlflow.exceptions import MlflowException
            from mlflow.store.db.db_types import DATABASE_ENGINES
            from mlflow.tracking import MlflowClient
            from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException
        except ImportError:
            # Hydra builds its callbacks before any job: stop here, in one line, before anything runs
            stop("+tracking=mlflow needs MLflow, which is not installed: pip install '.[track]' "
                 "(make setup installs it)")
        # MLflow 3 keeps the file store (a folder) in maintenance mode and refuses it unless asked: it needs no
        # server and no database, which is why a folder still works here.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        if not uri.strip():  # '' would make the folder convert.py started in the store (and write into it)
            stop("tracking.uri='' is not allowed; give a folder or an MLflow tracking URI")
        self.given, self.uri = uri, store_uri(uri)
        self.errors = (MlflowException, OSError)  # what a store that fails at a job's end raises
        scheme = urlparse(self.uri).scheme.split("+")[0]  # postgresql+psycopg: the database, then its driver
        database = scheme in DATABASE_ENGINES
        if database and importlib.util.find_spec("sqlalchemy") is None:
            stop(f"tracking.uri={uri!r} is a database, which mlflow-skinny has no store for: pip install "
                 "'.[track]' (the full mlflow; make setup installs it)")
        try:
            if database:
                open_database(self.uri)
            self.client = MlflowClient(tracking_uri=self.uri)
            with probing():
                found = self.client.get_experiment_by_name(experiment)
                # A database's runs keep their files in ./mlruns by MLflow's default: where the folder store lives
                self.experiment_id = found.experiment_id if found else self.client.create_experiment(
                    experiment, artifact_location=store_uri(artifact_location) if database else None)
        except UnsupportedModelRegistryStoreURIException:  # MLflow's name for "no store for this scheme"
            stop(f"tracking.uri={uri!r}: MLflow has no store for {scheme}: URIs; {USABLE}")
        except Exception as error:  # whatever MLflow, a database driver or the network raised: the cause in a line
            stop(f"tracking.uri={uri!r} cannot be used: {root_cause(error)}; {USABLE}")
        if found and found.lifecycle_stage == "deleted":  # MLflow would refuse the first run, at the job's end
            stop(f"tracking.experiment={experiment!r} was deleted from {self.uri}: restore it (MLFLOW_TRACKING_URI="
                 f"{self.uri} mlflow experiments restore -x {found.experiment_id}) or name another")

    def on_multirun_start(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        try:
            parent = self.client.create_run(self.experiment_id, run_name=f"sweep {sweep_dir.name}",
                                            tags={"sweep_dir": str(sweep_dir), "sweep": " ".join(
                                                config.hydra.overrides.task)})
        except self.errors as error:
            stop(f"tracking.uri={self.given!r}: the sweep's run could not be made ({root_cause(error)}); {USABLE}")
        (sweep_dir / PARENT_FILE).write_text(parent.info.run_id)

    def on_multirun_end(self, config, **kwargs) -> None:
        # Hydra ends its callbacks in reverse order: report.sweep.SweepEnd, listed first, writes the summary after
        # this returns (and may exit 1). So the parent is closed at exit, when the summary is there.
        sweep_dir = Path(config.hydra.sweep.dir)
        atexit.register(self._close_parent, sweep_dir, (sweep_dir / PARENT_FILE).read_text().strip())

    def _close_parent(self, sweep_dir: Path, parent: str) -> None:
        """The sweep's summary files on the parent run; FAILED when a job's run did not finish ok."""
        try:
            self._log_files(parent, sweep_dir, SWEEP_FILES)
            children = self.client.search_runs([self.experiment_id],
                                               filter_string=f"tags.mlflow.parentRunId = '{parent}'")
            failed = not children or any(run.info.status != "FINISHED" for run in children)
            self.client.set_terminated(parent, "FAILED" if failed else "FINISHED")
        except self.errors as error:  # at exit the exit code is decided: say it, in one line
            print(f"error: tracking.uri={self.given!r}: the sweep's summary was not logged ({root_cause(error)}); "
                  f"it is in {sweep_dir}", file=sys.stderr)

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
        try:
            self._log_job(config, job_return, run_dir)
        except self.errors as error:
            stop(f"tracking.uri={self.given!r}: the job was not logged ({root_cause(error)}); its files are in "
                 f"{run_dir}; check the store, then run again")

    def _log_job(self, config, job_return: JobReturn, run_dir: Path) -> None:
        from mlflow.entities import Metric, Param

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
        run = self.client.create_run(self.experiment_id, run_name=name,
                                     tags={**run_tags, **(tags(results) if results else {})})
        run_id, now = run.info.run_id, int(time.time() * 1000)
        # all of them in one request: to a tracking server every call is a round trip
        self.client.log_batch(
            run_id, params=[Param(key, value) for key, value in params(list(config.hydra.overrides.task)).items()],
            metrics=[Metric(key, float(value), now, 0) for key, value in (metrics(results) if results else {}).items()])
        self._log_files(run_id, run_dir, RUN_FILES)
        ok = job_return.status == JobStatus.COMPLETED and job_return.return_value == 0 and results is not None \
            and results.status == "ok"
        self.client.set_terminated(run_id, "FINISHED" if ok else "FAILED")
