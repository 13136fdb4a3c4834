"""What a step knows of the model's inputs (the pipeline puts `feeds` and `dynamic_batch` into every step's
options): example values to trace or check a model with, and the calibration samples for int8."""
from __future__ import annotations

import numpy as np

from core.feeds import Feed
from core.samples import call, samples_in


def feeds_of(options: dict) -> list[Feed]:
    return [Feed(**feed) for feed in options.get("feeds") or []]


def example(feed: Feed, seed: int = 0) -> np.ndarray:
    """One call's plausible values: normal floats, zeros for integers (a valid index anywhere), true masks."""
    if feed.dtype.startswith("float"):
        return np.random.default_rng(seed).standard_normal(feed.shape).astype(feed.dtype)
    if feed.dtype == "bool":
        return np.ones(feed.shape, bool)
    return np.zeros(feed.shape, feed.dtype)


def calibration(options: dict) -> list[dict[str, np.ndarray]]:
    """The run's calibration samples (calibration.npz: one array per input, [N, *shape fed]), one call per dict."""
    with np.load(options["calibration"]) as data:
        arrays = {name: data[name] for name in data.files}
    return [call(arrays, i) for i in range(samples_in(arrays))]
