"""What a benchmark worker tells the run's live view between iterations (bench/progress.py)."""
import numpy as np

from bench import progress as slots
from bench.timing import throughput_run, timed_loop


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
