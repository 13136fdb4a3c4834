"""The live view (pipeline/progress.py): what a benchmark worker tells it between iterations (bench/progress_slot.py),
that it stays out of the way off a terminal, and a real run under a pseudo-terminal showing the steps and the
benchmarks. The unchanged log output off a terminal is what every other test of convert.py reads."""
import fcntl
import io
import os
import re
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest

from bench import progress_slot as slots
from bench.timing import throughput_run, timed_loop
from pipeline.progress import LiveView, Progress, open_progress
from tests.conftest import FAST, REPO, cli_env

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Watcher:
    """A runner that reads the slot as the parent does (from the file) at every inference."""

    requests = 2

    def __init__(self, path):
        self.path, self.seen = path, []

    def __call__(self, inputs):
        self.seen.append(slots.read(self.path))
        return [inputs["x"]]

    def run_many(self, inputs, count):
        self.seen.append(slots.read(self.path))


def test_the_parent_reads_each_iteration_the_worker_finished(tmp_path):
    path = slots.create(tmp_path / "x.progress")
    assert slots.read(path) == ("loading", 0, 0)  # what a worker that has not started yet shows
    slot = slots.Slot(str(path))
    runner = Watcher(path)
    loop = timed_loop(runner, lambda: ({"x": np.zeros(2)}, None), lambda out, meta: None, warmup=2, runs=3,
                      tick=slot)
    assert len(loop.infer_ms) == 3
    # each inference sees what the one before it reported: warm-up, then the timed count
    assert runner.seen == [("preprocess", 5, 5), ("warm-up", 1, 2), ("warm-up", 2, 2), ("timed", 1, 3),
                           ("timed", 2, 3)]
    assert slots.read(path) == ("postprocess", 5, 5)
    slot("done")  # the phase alone keeps the counts
    assert slots.read(path) == ("done", 5, 5)
    slot.close()


def test_throughput_reports_its_rounds(tmp_path):
    path = slots.create(tmp_path / "x.progress")
    slot = slots.Slot(str(path))
    runner = Watcher(path)
    ips = throughput_run(runner, {"x": np.zeros((2, 3))}, warmup=1, runs=6, rounds=3, tick=slot)
    assert ips["n"] == 3
    assert runner.seen == [("warm-up", 0, 1), ("timed", 0, 3), ("timed", 1, 3), ("timed", 2, 3)]
    assert slots.read(path) == ("timed", 3, 3)


def test_without_a_path_nothing_is_written(tmp_path):
    slot = slots.Slot(None)
    assert not slot
    slot("timed", 1, 3)  # no file, no error
    assert slots.read(tmp_path / "missing.progress") is None


def test_quiet_off_a_terminal_and_when_turned_off():
    # pytest captures stdout: not a terminal, as in CI and in every other test of convert.py
    assert type(open_progress(True)) is Progress and not open_progress(True).live
    assert type(open_progress(False)) is Progress


def _under_a_terminal(*overrides, run_dir, cache, lock) -> tuple[int, str]:
    """convert.py with its stdout and stderr on a pseudo-terminal 150 columns wide -> (exit code, text seen)."""
    main, child = os.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 150, 0, 0))
    env = cli_env(cache, TERM="xterm-256color")
    env.pop("COLUMNS", None)
    proc = subprocess.Popen([sys.executable, "convert.py", *overrides, f"bench.lock_file={lock}",
                             f"hydra.run.dir={run_dir}"], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                            stdout=child, stderr=child)
    os.close(child)
    seen = bytearray()
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(main)
    return proc.wait(timeout=300), ANSI.sub("", seen.decode(errors="replace"))


@pytest.mark.cli
def test_a_run_on_a_terminal_shows_steps_and_benchmarks(tmp_path, cache_dir, bench_lock):
    code, text = _under_a_terminal("+graph=openvino", *FAST, run_dir=tmp_path / "run", cache=cache_dir,
                                   lock=bench_lock)
    assert code == 0, text[-3000:]
    assert "[convgraph][INFO] - [bench] openvino" in text  # the log lines still print, above the view
    last = text[text.rindex("steps"):]  # the last frame stays on screen, above the run's table
    for step, kind in [("model", "torch_model"), ("export", "torch_to_onnx"), ("simplify", "onnx_simplify"),
                       ("openvino", "onnx_to_openvino")]:
        assert re.search(rf"^{step} +{kind} +(ok|cached) .*(reference|passed)", last, re.M), last
    assert re.search(r"^onnx_lowp +onnx_precision +n/a ", last, re.M), last
    # a step's time while it runs, and once done (a cached step has none; a step that answers n/a still ran)
    assert re.search(r"^(model|export|simplify|openvino|onnx_lowp) +\w+ +\S+ +\d+\.\ds", text, re.M), text
    for artifact in ("model", "simplify", "openvino"):  # a full bar and the timed iterations, then the headline
        assert re.search(rf"^{artifact} +\w+, latency +ok +━+ +3/3 timed .* ms median inference", last, re.M), last
    assert "runtime" in last and "OK ->" in last  # then the table and the verdict, as off a terminal
    assert not list((tmp_path / "run" / "bench").glob("*.progress"))  # the slots are gone


@pytest.mark.cli
def test_progress_false_keeps_the_log_lines_only(tmp_path, cache_dir, bench_lock):
    code, text = _under_a_terminal("+graph=openvino", *FAST, "progress=false", "bench.enabled=false",
                                   "~graph.steps.onnx_lowp", run_dir=tmp_path / "run", cache=cache_dir,
                                   lock=bench_lock)
    assert code == 0, text[-3000:]
    assert "[convgraph][INFO] - [openvino]" in text
    assert "step " not in text and "pending" not in text and "━" not in text


def test_the_view_draws_what_it_was_told(tmp_path):
    """The view's table without a terminal: a running step has its elapsed time, a benchmark its slot's count."""
    from rich.console import Console

    view = LiveView(start=False)
    view.plan([("model", "torch_model"), ("export", "torch_to_onnx")])
    view.step_started("model")
    path = slots.create(tmp_path / "m.progress")
    slots.Slot(str(path))("timed", 7, 50)
    view.bench_started("model", "torch, latency", path)
    console = Console(width=150, record=True, file=io.StringIO())
    console.print(view)
    text = console.export_text()
    assert re.search(r"^model +torch_model +running +\d+\.\ds", text, re.M), text
    assert re.search(r"^export +torch_to_onnx +pending", text, re.M), text
    assert re.search(r"^model +torch, latency +timed +━+ +7/50 ", text, re.M), text
