"""+tracking=mlflow: a run is logged as an MLflow run (overrides as params, per-artifact figures as metrics,
results.json / report.html / the bundle's manifest as artifacts) in a local file store; a sweep's jobs are nested
under one parent run; without MLflow the option stops in one line before anything runs."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import FAST, REPO, cli_env

pytest.importorskip("mlflow", reason="the `track` extra (MLflow) is not installed")
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 refuses a file store unless asked

from mlflow.tracking import MlflowClient  # noqa: E402

OPENVINO = ["+graph=openvino", *FAST]


def logged(store) -> tuple[MlflowClient, list]:
    client = MlflowClient(tracking_uri=store.as_uri())
    experiment = client.get_experiment_by_name("convgraph")
    assert experiment is not None, f"nothing logged under {store}"
    return client, client.search_runs([experiment.experiment_id])


def artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id, path)}


def test_a_run_is_logged_with_params_metrics_and_artifacts(convert, tmp_path):
    store = tmp_path / "mlruns"
    run = convert(*OPENVINO, "+select=latency", "+tracking=mlflow", f"tracking.uri={store.as_uri()}")
    assert run.returncode == 0, run.tail()
    client, runs = logged(store)
    assert len(runs) == 1
    logged_run = runs[0]
    assert logged_run.info.status == "FINISHED"
    assert logged_run.data.params["graph"] == "openvino" and logged_run.data.params["bench.runs"] == "3"
    assert logged_run.data.tags["model"] == "tiny_cnn" and logged_run.data.tags["pick"] == run.results.selection["pick"]
    metrics = logged_run.data.metrics
    for bench in run.results.ok_bench():
        assert metrics[f"{bench.artifact}/median_ms"] == pytest.approx(bench.infer_ms.median)
    assert metrics["model/speedup_vs_torch"] == pytest.approx(1.0)
    openvino = run.parity("openvino")
    assert metrics["openvino/task_agreement"] == openvino.agreement
    assert metrics["openvino/parity_max_abs_err"] == pytest.approx(openvino.worst_abs())
    assert {"results.json", "report.html"} <= artifacts(client, logged_run.info.run_id)
    assert artifacts(client, logged_run.info.run_id, "deploy") == {"deploy/manifest.json"}


def test_a_sweep_logs_one_parent_with_a_child_per_job(convert, tmp_path):
    store = tmp_path / "mlruns"
    sweep = convert(*OPENVINO, "~graph.steps.onnx_lowp", "graph.steps.openvino.input=export,simplify",
                    "+tracking=mlflow", f"tracking.uri={store}", "+select=latency", run_dir=tmp_path / "sweep",
                    multirun=True)
    assert sweep.returncode == 0, sweep.tail()
    client, runs = logged(store)
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
    store = tmp_path / "mlruns"
    run = convert(*OPENVINO, "precision=int3", "+tracking=mlflow", f"tracking.uri={store}")
    assert run.returncode == 2 and "precision='int3' is not allowed" in run.stderr  # the exit code is kept
    _, runs = logged(store)
    assert [(r.info.status, r.data.tags["status"], r.data.params["precision"]) for r in runs] == [
        ("FAILED", "failed", "int3")]


@pytest.mark.cli
def test_without_mlflow_the_option_is_one_line_before_anything_runs(tmp_path):
    # sys.modules[name] = None is how Python itself makes a module unimportable
    script = ("import runpy, sys; sys.modules['mlflow'] = None; sys.argv = ['convert.py', *sys.argv[1:]]; "
              "runpy.run_path('convert.py', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", script, *OPENVINO, "+tracking=mlflow",
                           f"hydra.run.dir={tmp_path / 'run'}"], cwd=REPO, env=cli_env(tmp_path / "cache"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == ("error: +tracking=mlflow needs MLflow, which is not installed: "
                                   "pip install '.[track]' (make setup installs it)")
    assert not (tmp_path / "run" / "results.json").exists()
