"""Ctrl-C and SIGTERM (a cancelled cluster job) stop a run with what finished recorded: exit code 130, results.json
with status `interrupted`, the running step marked so, and its child process gone with it."""
import json
import signal
import subprocess
import sys
import time

import psutil
import pytest

from pipeline.results import load_results
from tests.conftest import FAST, REPO, cli_env

GRAPH = ["+graph=openvino", *FAST, "bench.enabled=false", "~graph.steps.openvino", "~graph.steps.onnx_lowp",
         "~graph.steps.simplify", "+graph.steps.stuck.kind=tests.steps.hang", "+graph.steps.stuck.input=export"]


def _hanging_child(pid: int) -> psutil.Process | None:
    """The run's step process that runs tests.steps.hang, once it has started."""
    for child in psutil.Process(pid).children(recursive=True):
        try:
            args = child.cmdline()
            if "converters.run_step" in args and json.loads(open(args[-1]).read())["kind"] == "tests.steps.hang":
                return child
        except (psutil.Error, OSError, ValueError, KeyError):
            continue
    return None


def _as_in_a_terminal():
    """Ctrl-C's default action, as in a user's shell. An ignored SIGINT is inherited: once convert.py started
    with SIGINT and SIGQUIT ignored (the mark of C's system() running in another thread of the test worker when
    it forked; libtorch calls it) and never stopped."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.cli
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_the_run_and_keeps_what_finished(tmp_path, cache_dir, signum):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "convert.py", *GRAPH, f"hydra.run.dir={run_dir}"], cwd=REPO,
                            env=cli_env(cache_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_in_a_terminal)
    deadline = time.time() + 300
    while (child := _hanging_child(proc.pid)) is None:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # it did not stop: do not leave it (and its step) running
            for process in [*psutil.Process(proc.pid).children(recursive=True), proc]:
                process.kill()
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == (f"interrupted: what finished is kept and recorded in "
                                            f"{run_dir / 'results.json'}")
    assert "Traceback" not in err
    results = load_results(run_dir)
    assert results.status == "interrupted"
    steps = {s.name: s.status for s in results.steps}
    assert steps["stuck"] == "interrupted"
    assert steps["model"] in ("ok", "cached") and steps["export"] in ("ok", "cached")
    assert {a.name for a in results.artifacts} == {"model", "export"} and all(p.passed for p in results.parity)
    # the step's process (its own session: the signal did not reach it) was killed by the run
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
