"""Multirun, one sweep: a failing job does not stop the others (the sweep exits 1 at the end, after every job
ran); the summary and one selection across the jobs' rows (an artifact measured in several jobs counts once)
are written by the sweep-end callback, and rebuilt from the job dirs by `python -m report.sweep`; a sweep whose
jobs are all ok and that picks something exits 0."""
import json
import shutil
import subprocess
import sys

import pytest

from pipeline.results import load_results
from report.sweep import finish_sweep
from tests.conftest import FAST, REPO

# After the FAILURE run on the same worker: the fp32 job's conversions come from the cache.
pytestmark = pytest.mark.xdist_group("failure_run")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, cache_dir, bench_lock):
    from tests.conftest import run_convert

    return run_convert("+graph=openvino", *FAST, "precision=fp32,int8,int3", "+select=latency",
                       "select.runtimes=[openvino]", "select.bundle=false",
                       run_dir=tmp_path_factory.mktemp("sweep") / "sweep", cache=cache_dir, multirun=True,
                       lock=bench_lock)


def test_a_failing_job_is_recorded_and_the_others_run(sweep):
    assert sweep.returncode == 1, sweep.tail()  # after every job ran: one was not ok
    assert "1 job(s) not ok" in sweep.stdout
    jobs = {job: load_results(sweep.dir / job) for job in ("0", "1", "2")}
    assert jobs["0"].status == jobs["1"].status == "ok" and jobs["2"].status == "failed"
    assert jobs["2"].error == "UserError: precision='int3' is not allowed; allowed: fp32, fp16, bf16, int8"
    statuses = {s.name: s.status for s in jobs["0"].steps}
    assert statuses["onnx_lowp"] == "n/a" and jobs["1"].artifact("onnx_lowp").precision == "int8"  # n/a: no failure
    summary = (sweep.dir / "summary.csv").read_text()
    lines = summary.strip().splitlines()
    assert "UserError: precision='int3'" in summary  # the failed job is shown, with why
    assert sum(",ok," in line for line in lines) == 3 + 4  # fp32: model, simplify, openvino; int8: + onnx_lowp
    assert (sweep.dir / "summary.md").exists() and (sweep.dir / "latency_by_runtime.png").stat().st_size > 0
    assert (sweep.dir / "latency_vs_accuracy.png").stat().st_size > 0


def test_the_sweep_selects_once_across_its_jobs(sweep):
    selection = json.loads((sweep.dir / "selection.json").read_text())
    ids = [c["id"] for c in selection["candidates"]]
    assert {"0/openvino", "1/openvino"} <= set(ids)  # both jobs' OpenVINO IRs compete
    assert len([i for i in ids if i.endswith("/simplify")]) == 1  # the same fp32 ONNX measured once
    assert len([i for i in ids if i.endswith("/model")]) == 1
    assert selection["pick"] in ("0/openvino", "1/openvino") and selection["reason"] in sweep.stdout
    assert not (sweep.dir / "0" / "deploy").exists() and not (sweep.dir / "deploy").exists()  # bundle=false
    assert all(load_results(sweep.dir / j).selection is None for j in ("0", "1"))  # jobs do not select


def test_the_summary_rebuilt_from_the_job_dirs_equals_the_callbacks(sweep):
    summary, markdown = (sweep.dir / "summary.csv").read_text(), (sweep.dir / "summary.md").read_text()
    selection = json.loads((sweep.dir / "selection.json").read_text())
    for name in ("summary.csv", "summary.md", "selection.json"):
        (sweep.dir / name).unlink()
    rebuilt = subprocess.run([sys.executable, "-m", "report.sweep", str(sweep.dir)], cwd=REPO, capture_output=True,
                             text=True, timeout=300)
    assert rebuilt.returncode == 1, rebuilt.stderr  # as the sweep itself: a job was not ok
    assert (sweep.dir / "summary.csv").read_text() == summary
    assert (sweep.dir / "summary.md").read_text() == markdown
    again = json.loads((sweep.dir / "selection.json").read_text())
    assert (again["pick"], again["reason"], again["front"]) == (selection["pick"], selection["reason"],
                                                               selection["front"])


def test_a_sweep_of_ok_jobs_that_picks_exits_0(sweep, tmp_path, capsys):
    for job in ("0", "1"):
        shutil.copytree(sweep.dir / job, tmp_path / job)
    assert finish_sweep(tmp_path) == 0
    assert "0 job(s) not ok" in capsys.readouterr().out
    assert json.loads((tmp_path / "selection.json").read_text())["status"] == "picked"


def test_summary_html_tells_the_jobs_apart_by_what_they_varied(sweep):
    from tests.test_report_html import Page

    page = Page((sweep.dir / "summary.html").read_text())
    rows = page.table("job", "overrides", "job_status", "median_ms")
    assert {r["job"]: r["overrides"] for r in rows} == {"0": "precision=fp32", "1": "precision=int8",
                                                         "2": "precision=int3"}
    assert [r["job_status"] for r in rows if r["job"] == "2"] == ["failed"]
    assert "+select=latency" in (sweep.dir / "summary.html").read_text()  # the shared overrides, said once
    assert page.links == ["0/report.html", "1/report.html"]  # the failed job wrote no page


def test_overrides_are_shown_as_typed_not_as_hydra_escaped_them(tmp_path):
    from report.summary import job_overrides

    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text(
        "- +tracking=mlflow\n- tracking.uri=file\\:///tmp/mlr\n- precision=int8\n- input.images=/a\\ b\n")
    assert job_overrides(tmp_path) == r"+tracking=mlflow tracking.uri=file:///tmp/mlr precision=int8 input.images=/a\ b"
