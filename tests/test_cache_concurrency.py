"""Many writers, one cache: 4 processes converting the same model at once end with one entry per step,
identical hashes and no temp files; a run killed mid-step leaves nothing a later run trusts, and its child
dies with it. The graph is the model and its export only: more steps add conversion time, not another way to
race."""
import os
import signal
import subprocess
import sys
import time

from pipeline.results import load_results
from tests.conftest import FAST, REPO, cli_env

GRAPH = ["+graph=openvino", *FAST, "bench.enabled=false", "~graph.steps.openvino", "~graph.steps.onnx_lowp",
         "~graph.steps.simplify"]


def _start(run_dir, cache_dir, *extra):
    return subprocess.Popen([sys.executable, "convert.py", *GRAPH, f"cache.dir={cache_dir}",
                             f"hydra.run.dir={run_dir}", *extra], cwd=REPO, env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_four_writers_one_entry_identical_hashes(tmp_path):
    cache_dir = tmp_path / "cache"
    procs = [_start(tmp_path / f"run{i}", cache_dir) for i in range(4)]
    for proc in procs:
        assert proc.wait(timeout=900) == 0, proc.stderr.read()[-2000:]
    results = [load_results(tmp_path / f"run{i}") for i in range(4)]
    hashes = [{a.name: a.sha256 for a in r.artifacts} for r in results]
    assert all(h == hashes[0] for h in hashes) and set(hashes[0]) == {"model", "export"}
    keys = {s.cache_key for r in results for s in r.steps if s.status in ("ok", "cached")}
    assert sorted(p.name for p in (cache_dir / "entries").iterdir()) == sorted(keys)  # one entry per step
    assert len(keys) == 2
    assert list((cache_dir / "tmp").iterdir()) == []  # losers cleaned up their work dirs


def test_run_killed_mid_step_leaves_no_trusted_entry(tmp_path):
    cache_dir = tmp_path / "cache"
    hang = ["+graph.steps.stuck.kind=tests.steps.hang", "+graph.steps.stuck.input=export"]
    proc = _start(tmp_path / "killed", cache_dir, *hang)
    deadline = time.time() + 300
    while time.time() < deadline and not any("tests.steps.hang" in p.read_text()
                                             for p in (cache_dir / "tmp").glob("*/request.json")):
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up
    proc.wait(timeout=60)
    time.sleep(1)
    leftovers = list((cache_dir / "tmp").iterdir())
    assert leftovers, "the hung step's work dir should still be there (nobody cleaned it)"
    stuck_key = leftovers[0].name.split(".")[0]
    assert not (cache_dir / "entries" / stuck_key).exists()
    # the child died with its parent (no orphan still "converting")
    assert subprocess.run(["pgrep", "-f", str(leftovers[0])], capture_output=True).returncode == 1

    # a later run: every finished step is reused, nothing from the killed step is trusted
    rerun = _start(tmp_path / "again", cache_dir, *hang, "+graph.steps.stuck.timeout_s=2")
    assert rerun.wait(timeout=600) == 1
    steps = {s.name: s.status for s in load_results(tmp_path / "again").steps}
    assert steps["stuck"] == "failed" and steps["export"] == steps["model"] == "cached"
