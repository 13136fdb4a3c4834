"""The shared timing module: every runtime is measured by this one loop.

Each iteration times preprocess (numpy, same code for all), inference (the runtime adapter) and
postprocess (numpy, same code for all) separately. Warm-up iterations are discarded.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from core.prepost import Processing, postprocess, preprocess_with_meta


def summarize(samples_ms: list[float] | np.ndarray) -> dict:
    """min / median / p90 / p99 / mean / std and coefficient of variation of a list of milliseconds."""
    values = np.asarray(samples_ms, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no samples to summarize")
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return {"min": float(values.min()), "median": float(np.median(values)),
            "p90": float(np.percentile(values, 90)), "p99": float(np.percentile(values, 99)),
            "mean": mean, "std": std, "cv": std / mean if mean > 0 else 0.0, "n": int(values.size)}


@dataclass
class LoopResult:
    pre_ms: list[float]
    infer_ms: list[float]
    post_ms: list[float]
    last: dict | None = None  # the last postprocess result (post time depends on what it found)


def timed_loop(runner, images: list[np.ndarray], proc: Processing, warmup: int, runs: int) -> LoopResult:
    clock = time.perf_counter
    result = LoopResult([], [], [])
    for i in range(warmup + runs):
        t0 = clock()
        batch, meta = preprocess_with_meta(images, proc, runner.layout)  # meta: letterbox placement per image
        t1 = clock()
        outputs = runner(batch)
        t2 = clock()
        result.last = postprocess(outputs, proc, meta)
        t3 = clock()
        if i >= warmup:
            result.pre_ms.append((t1 - t0) * 1e3)
            result.infer_ms.append((t2 - t1) * 1e3)
            result.post_ms.append((t3 - t2) * 1e3)
    return result
