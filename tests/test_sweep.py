"""Multirun: a failing job does not stop the others (the sweep exits 1 at the end); the summary rebuilt from
job dirs equals the callback's."""
import os
import subprocess
import sys

from tests.conftest import FAST, REPO


def test_sweep_summary_and_failing_job(tmp_path, cache_dir):
    sweep = tmp_path / "sweep"
    env = {**os.environ, "CONVGRAPH_CACHE": str(cache_dir)}
    proc = subprocess.run([sys.executable, "convert.py", "-m", "+graph=openvino", *FAST,
                           "precision=fp32,int8,int3", f"hydra.sweep.dir={sweep}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 1, proc.stderr[-3000:]  # after every job ran: one was not ok
    assert "1 job(s) not ok" in proc.stdout
    summary = (sweep / "summary.csv").read_text()
    lines = summary.strip().splitlines()
    assert "UserError: precision='int3'" in summary  # the failed job is shown, with why
    assert sum(",ok," in line for line in lines) >= 5  # fp32: 3 rows, int8: 3 rows
    assert (sweep / "summary.md").exists() and (sweep / "latency_by_runtime.png").stat().st_size > 0
    assert (sweep / "latency_vs_error.png").stat().st_size > 0

    callback_md = (sweep / "summary.md").read_text()
    (sweep / "summary.csv").unlink()
    rebuilt = subprocess.run([sys.executable, "-m", "bench.summary", str(sweep)], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (sweep / "summary.csv").read_text() == summary
    assert (sweep / "summary.md").read_text() == callback_md
