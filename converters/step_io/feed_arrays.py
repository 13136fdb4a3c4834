"""What a step knows of the model's inputs (StepInputs.feeds): example values to trace or check a model with, and
the calibration samples for int8 (StepInputs.calibration)."""
from __future__ import annotations

import numpy as np

from core.errors import StepFailed
from core.feeds import Feed
from core.samples import call, samples_in


def example(feed: Feed, seed: int = 0) -> np.ndarray:
    """One call's plausible values: normal floats, zeros for integers (a valid index anywhere), true masks."""
    if feed.dtype.startswith("float"):
        return np.random.default_rng(seed).standard_normal(feed.shape).astype(feed.dtype)
    if feed.dtype == "bool":
        return np.ones(feed.shape, bool)
    return np.zeros(feed.shape, feed.dtype)


def calibration(path: str | None) -> list[dict[str, np.ndarray]]:
    """The run's calibration samples (calibration.npz: one array per input, [N, *shape fed]), one call per dict."""
    if not path:
        raise StepFailed("int8 needs the run's calibration samples (StepInputs.calibration); none were given")
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    return [call(arrays, i) for i in range(samples_in(arrays))]
