"""The shared timing module: every runtime is measured by these loops.

Preprocess (numpy, same code for all), inference (the runtime adapter) and postprocess (numpy, same code for
all) are timed separately; the caller (bench/worker.py) says what pre- and postprocessing are. Warm-up
iterations are discarded. summarize() gives min / median / p90 / p99 and the coefficient of variation;
is_noisy() flags a measurement too spread to be presented as exact.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


def summarize(samples_ms: list[float] | np.ndarray) -> dict:
    """min / median / p90 / p99 / mean / std and coefficient of variation (std / mean) of samples (ms, images/s)."""
    values = np.asarray(samples_ms, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no samples to summarize")
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return {"min": float(values.min()), "median": float(np.median(values)),
            "p90": float(np.percentile(values, 90)), "p99": float(np.percentile(values, 99)),
            "mean": mean, "std": std, "cv": std / mean if mean > 0 else 0.0, "n": int(values.size)}


def is_noisy(stats: dict, threshold: float | None) -> bool:
    """A measurement too spread to be presented as exact: its coefficient of variation is above `threshold`."""
    return threshold is not None and stats.get("cv", 0.0) > threshold


class OtherLoad:
    """Cores that other processes kept busy while a measurement ran (the machine's busy CPU time minus our own,
    children included): the usual reason for a noisy measurement on a shared machine. `cores` is None where
    the counters cannot be read."""

    def __enter__(self):
        self.cores = None
        self._start = self._sample()
        return self

    def __exit__(self, *exc):
        end = self._sample()
        if self._start and end and end[0] > self._start[0]:
            wall, busy, ours = (b - a for a, b in zip(self._start, end, strict=True))
            self.cores = max(0.0, (busy - ours) / wall)
        return False

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        import psutil

        try:
            machine, own = psutil.cpu_times(), psutil.Process().cpu_times()
        except (OSError, psutil.Error):
            return None
        # steal (the hypervisor running other guests) takes cores from us like a neighbour process does
        busy = sum(getattr(machine, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))
        return time.monotonic(), busy, own.user + own.system + own.children_user + own.children_system


@dataclass
class LoopResult:
    pre_ms: list[float]
    infer_ms: list[float]
    post_ms: list[float]
    last: dict | None = None  # the last postprocess result (post time depends on what it found)


Tick = Callable[[str, int, int], None]  # (phase, done, total): bench.progress_slot.Slot, called between iterations


def timed_loop(runner, prepare: Callable[[], tuple[dict, Any]], finish: Callable[[list, Any], dict | None],
               warmup: int, runs: int, tick: Tick | None = None) -> LoopResult:
    """Preprocess (`prepare()` -> the runner's inputs and what postprocess needs), inference (the runner) and
    postprocess (`finish(outputs, meta)`), each timed `runs` times after its own warm-up, in three phases.

    Inference runs back to back on the prepared inputs, as the runtimes' own tools (benchmark_app, a bare
    loop) time it: with pre/post in between, the runtime's worker threads go to sleep between inferences and
    on a loaded machine waking them dominates (PyTorch, 2 threads, tiny_cnn: 0.24 ms back to back, 47 ms with
    1 ms gaps while another process held the second core), and preprocessing evicts the weights from cache.

    `tick` (the live view) is told each iteration's end after its clock has been read: a memory store,
    a few hundred nanoseconds between two inferences, outside every timed interval.
    """
    clock = time.perf_counter
    result = LoopResult([], [], [])
    side = min(warmup, 2)  # numpy pre/post need little warm-up
    for i in range(side + runs):
        t0 = clock()
        inputs, meta = prepare()
        if i >= side:
            result.pre_ms.append((clock() - t0) * 1e3)
        if tick:
            tick("preprocess", i + 1, side + runs)
    for i in range(warmup + runs):
        t0 = clock()
        outputs = runner(inputs)
        t1 = clock()
        if i >= warmup:
            result.infer_ms.append((t1 - t0) * 1e3)
        if tick:
            tick(*(("warm-up", i + 1, warmup) if i < warmup else ("timed", i + 1 - warmup, runs)))
    for i in range(side + runs):
        t0 = clock()
        result.last = finish(outputs, meta)
        if i >= side:
            result.post_ms.append((clock() - t0) * 1e3)
        if tick:
            tick("postprocess", i + 1, side + runs)
    return result


def throughput_run(runner, inputs: dict[str, np.ndarray], warmup: int, runs: int, rounds: int = 5,
                   tick: Tick | None = None) -> dict:
    """Samples per second with the runtime's throughput setting: `runs` inferences on one prepared batch, split
    into rounds that each keep `runner.requests` inferences in flight; summarize() over the rounds' samples/s.

    Inference only, as the latency numbers are: pre/postprocess are the same numpy code for every runtime."""
    clock = time.perf_counter
    in_flight = max(1, int(getattr(runner, "requests", 1)))
    rounds = max(1, min(rounds, runs))
    per_round = -(-max(runs // rounds, 1) // in_flight) * in_flight  # whole waves of requests
    batch = len(next(iter(inputs.values())))
    if tick:
        tick("warm-up", 0, 1)
    runner.run_many(inputs, max(warmup, in_flight))
    images_per_s = []
    for i in range(rounds):
        if tick:
            tick("timed", i, rounds)
        start = clock()
        runner.run_many(inputs, per_round)
        images_per_s.append(batch * per_round / (clock() - start))
    if tick:
        tick("timed", rounds, rounds)
    return {**summarize(images_per_s), "requests_in_flight": in_flight, "inferences_per_round": per_round}
