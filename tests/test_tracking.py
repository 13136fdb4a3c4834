"""+tracking=mlflow: a run is logged as an MLflow run (overrides as params, per-artifact figures as metrics,
results.json / report.html / the bundle's manifest as artifacts) and a sweep's jobs are nested under one parent
run, in each kind of store: a folder, a sqlite database, and a tracking server (`mlflow server` on 127.0.0.1,
over HTTP). A store MLflow cannot use stops in one line: before anything runs, or at the job's end."""
from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import FAST, REPO, cli_env

pytest.importorskip("mlflow", reason="the `track` extra (MLflow) is not installed")
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 refuses a file store unless asked

from mlflow.tracking import MlflowClient  # noqa: E402

OPENVINO = ["+graph=openvino", *FAST]
FULL_MLFLOW = pytest.mark.skipif(importlib.util.find_spec("sqlalchemy") is None,
                                 reason="mlflow-skinny: the database store and `mlflow server` are in the full mlflow")
SERVER_START_S = 120  # a loaded 2-core machine: the server imports for a while before it listens
USABLE = "give a folder, sqlite:///FILE or the http://HOST:PORT of a running MLflow tracking server"


@dataclass
class Store:
    """tracking.uri as convert.py and MlflowClient are given it, where the store keeps a run's artifacts, and any
    other tracking override it needs."""

    uri: str
    artifacts: str
    overrides: tuple[str, ...] = ()


def tracking(store: Store, experiment: str) -> list[str]:
    return ["+tracking=mlflow", f"tracking.uri={store.uri}", f"tracking.experiment={experiment}", *store.overrides]


def logged(store: Store, experiment: str) -> tuple[MlflowClient, list]:
    client = MlflowClient(tracking_uri=store.uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"nothing logged under {store.uri}"
    return client, client.search_runs([found.experiment_id])


def artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id, path)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@contextmanager
def mlflow_server(folder: Path):
    """`mlflow server` on a free port of 127.0.0.1, its runs in a sqlite file and its artifacts in `folder`:
    yields its URI once it answers, and stops it (its process group: it starts uvicorn) whatever happened."""
    folder.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), folder / "server.log"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # its job runner: 7 idle processes more
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination",
             str(folder / "artifacts")], cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    uri, started = f"http://127.0.0.1:{port}", time.monotonic()
    try:
        while not healthy(uri):
            assert server.poll() is None, f"mlflow server exited {server.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() - started < SERVER_START_S, \
                f"mlflow server not up after {SERVER_START_S} s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        print(f"\nmlflow server {uri} answered after {time.monotonic() - started:.1f} s")
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow_server")
    with mlflow_server(folder) as uri:
        yield uri


@pytest.fixture
def experiment(request) -> str:
    """One experiment per test: the tracking server is shared by the tests of this module."""
    return request.node.originalname


# the server's tests on one pytest-xdist worker: one server started for them, not one per worker
@pytest.fixture(params=["folder", pytest.param("sqlite", marks=FULL_MLFLOW), pytest.param(
    "server", marks=[FULL_MLFLOW, pytest.mark.slow, pytest.mark.xdist_group("mlflow_server")])])
def store(request, tmp_path) -> Store:
    if request.param == "folder":
        return Store(str(tmp_path / "mlruns"), (tmp_path / "mlruns").as_uri())
    if request.param == "sqlite":  # its files not in ./mlartifacts, which for convert.py here is the repository
        return Store(f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "artifacts").as_uri(),
                     (f"hydra.callbacks.mlflow.artifact_location={tmp_path / 'artifacts'}",))
    return Store(request.getfixturevalue("tracking_server"), "mlflow-artifacts:/")  # uploaded to the server


def test_a_run_is_logged_with_params_metrics_and_artifacts(convert, store, experiment):
    run = convert(*OPENVINO, "+select=latency", *tracking(store, experiment))
    assert run.returncode == 0, run.tail()
    client, runs = logged(store, experiment)
    assert len(runs) == 1
    logged_run = runs[0]
    assert logged_run.info.status == "FINISHED"
    assert logged_run.data.params["graph"] == "openvino" and logged_run.data.params["bench.runs"] == "3"
    assert logged_run.data.tags["model"] == "tiny_cnn" and logged_run.data.tags["pick"] == run.results.selection.pick
    metrics = logged_run.data.metrics
    for bench in run.results.ok_bench():
        assert metrics[f"{bench.artifact}/median_ms"] == pytest.approx(bench.infer_ms.median)
    assert metrics["model/speedup_vs_torch"] == pytest.approx(1.0)
    openvino = run.parity("openvino")
    assert metrics["openvino/task_agreement"] == openvino.agreement
    assert metrics["openvino/parity_max_abs_err"] == pytest.approx(openvino.worst_abs())
    assert logged_run.info.artifact_uri.startswith(store.artifacts)
    assert {"results.json", "report.html"} <= artifacts(client, logged_run.info.run_id)
    assert artifacts(client, logged_run.info.run_id, "deploy") == {"deploy/manifest.json"}


def test_a_sweep_logs_one_parent_with_a_child_per_job(convert, store, experiment, tmp_path):
    sweep = convert(*OPENVINO, "~graph.steps.onnx_lowp", "graph.steps.openvino.input=export,simplify",
                    *tracking(store, experiment), "+select=latency", run_dir=tmp_path / "sweep", multirun=True)
    assert sweep.returncode == 0, sweep.tail()
    client, runs = logged(store, experiment)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted((c.info.run_name, c.data.params["graph.steps.openvino.input"]) for c in children) == [
        ("job 0: tiny_cnn openvino fp32", "export"), ("job 1: tiny_cnn openvino fp32", "simplify")]
    assert all(c.info.status == "FINISHED" and "openvino/median_ms" in c.data.metrics for c in children)
    assert parent.info.status == "FINISHED"
    assert {"summary.html", "summary.csv"} <= artifacts(client, parent.info.run_id)
    assert artifacts(client, parent.info.run_id, "deploy") == {"deploy/manifest.json"}  # the sweep's pick


@pytest.mark.cli
def test_a_run_that_fails_is_logged_as_failed(convert, tmp_path):
    store = Store((tmp_path / "mlruns").as_uri(), (tmp_path / "mlruns").as_uri())  # a folder as a file: URI
    run = convert(*OPENVINO, "precision=int3", *tracking(store, "convgraph"))
    assert run.returncode == 2 and "precision='int3' is not allowed" in run.stderr  # the exit code is kept
    _, runs = logged(store, "convgraph")
    assert [(r.info.status, r.data.tags["status"], r.data.params["precision"]) for r in runs] == [
        ("FAILED", "failed", "int3")]


def convert_without(module: str, *args: str, run_dir: Path) -> subprocess.CompletedProcess:
    """convert.py with `module` unimportable (sys.modules[name] = None is how Python itself does that)."""
    script = (f"import runpy, sys; sys.modules[{module!r}] = None; sys.argv = ['convert.py', *sys.argv[1:]]; "
              "runpy.run_path('convert.py', run_name='__main__')")
    return subprocess.run([sys.executable, "-c", script, *args, f"hydra.run.dir={run_dir}"], cwd=REPO,
                          env=cli_env(run_dir.parent / "cache"), capture_output=True, text=True, timeout=120)


@pytest.mark.cli
def test_without_mlflow_the_option_is_one_line_before_anything_runs(tmp_path):
    proc = convert_without("mlflow", *OPENVINO, "+tracking=mlflow", run_dir=tmp_path / "run")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == ("error: +tracking=mlflow needs MLflow, which is not installed: "
                                   "pip install '.[track]' (make setup installs it)")
    assert not (tmp_path / "run" / "results.json").exists()


@pytest.mark.cli
def test_a_database_with_mlflow_skinny_is_one_line_before_anything_runs(tmp_path):
    # mlflow-skinny is MLflow without SQLAlchemy: MLflow then registers no database store
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = convert_without("sqlalchemy", *OPENVINO, "+tracking=mlflow", f"tracking.uri={uri}",
                           run_dir=tmp_path / "run")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (f"error: tracking.uri='{uri}' is a database, which mlflow-skinny has no store "
                                   "for: pip install '.[track]' (the full mlflow; make setup installs it)")
    assert not (tmp_path / "run" / "results.json").exists()


@pytest.mark.cli
@pytest.mark.parametrize("uri, line", [
    ("nosuch://store", "tracking.uri='nosuch://store': MLflow has no store for nosuch: URIs"),
    ("http://127.0.0.1:{port}",
     "tracking.uri='http://127.0.0.1:{port}' cannot be used: [Errno 111] Connection refused"),
], ids=["unknown-scheme", "no-server"])
def test_a_store_mlflow_cannot_use_is_one_line_before_anything_runs(convert, tmp_path, uri, line):
    port = free_port()  # nothing listens on it
    run = convert(*OPENVINO, "+tracking=mlflow", f"tracking.uri={uri.format(port=port)}")
    assert run.returncode == 2, run.tail()
    assert run.stderr.strip() == f"error: {line.format(port=port)}; {USABLE}"
    assert not (run.dir / "results.json").exists()


@pytest.mark.cli
def test_a_deleted_experiment_is_one_line_before_anything_runs(convert, tmp_path):
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    gone = client.create_experiment("gone")
    client.delete_experiment(gone)
    run = convert(*OPENVINO, "+tracking=mlflow", f"tracking.uri={tmp_path / 'mlruns'}", "tracking.experiment=gone")
    assert run.returncode == 2, run.tail()
    assert run.stderr.strip() == (
        f"error: tracking.experiment='gone' was deleted from {(tmp_path / 'mlruns').as_uri()}: restore it "
        f"(MLFLOW_TRACKING_URI={(tmp_path / 'mlruns').as_uri()} mlflow experiments restore -x {gone}) or name another")
    assert not (run.dir / "results.json").exists()


@FULL_MLFLOW
@pytest.mark.slow
def test_a_server_gone_by_the_jobs_end_is_one_line_and_the_run_is_kept(tmp_path, cache_dir):
    run_dir = tmp_path / "run"
    args = [sys.executable, "convert.py", *OPENVINO, "bench.enabled=false", "+tracking=mlflow",
            f"hydra.run.dir={run_dir}"]
    # MLflow's own retries for a server that went away take minutes; the user may shorten them (as here)
    env = cli_env(cache_dir, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    with mlflow_server(tmp_path / "server") as uri:
        job = subprocess.Popen([*args, f"tracking.uri={uri}"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        client, waited = MlflowClient(tracking_uri=uri), time.monotonic()
        while client.get_experiment_by_name("convgraph") is None:  # the callback has tried the store
            assert job.poll() is None and time.monotonic() - waited < 120, "convert.py never reached the server"
            time.sleep(0.2)
    _, stderr = job.communicate(timeout=600)
    assert job.returncode == 2, stderr[-3000:]
    assert stderr.strip() == (
        f"error: tracking.uri='{uri}': the job was not logged ([Errno 111] Connection refused); its files are in "
        f"{run_dir}; check the store, then run again")
    assert (run_dir / "results.json").is_file() and (run_dir / "report.html").is_file()
