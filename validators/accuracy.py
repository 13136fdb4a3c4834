"""Accuracy against ground truth, and what it costs a candidate against the reference.

A metric is kept as per-sample figures plus the way they add up (`Scores`), so that the drop between the
reference and a candidate gets a confidence interval by a paired bootstrap: the same resampled samples for
both sides, since both ran on the same samples.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

RESAMPLES = 1000
CONFIDENCE = 0.95


@dataclass
class Scores:
    """One artifact's figures against the truth on N samples.

    value_of(indices) is the metric over those samples (indices may repeat: a bootstrap resample); per-sample
    sufficient statistics (counts, distances) make it cheap."""

    metric: str  # "top-1 accuracy", "Hmean (IoU 0.5)", "mAP50-95", "mIoU", "CER"
    higher_is_better: bool
    count: int  # N
    value_of: Callable[[np.ndarray], float]
    extras: dict = field(default_factory=dict)  # other figures worth recording (precision, recall, mAP50, ...)

    @property
    def value(self) -> float:
        return float(self.value_of(np.arange(self.count)))


@dataclass(frozen=True)
class Drop:
    """How much worse the candidate is than the reference (positive: worse), with its interval."""

    value: float
    low: float
    high: float
    confidence: float
    resamples: int

    @property
    def distinguishable(self) -> bool:
        """The interval excludes zero: the samples show a difference (either way)."""
        return self.low > 0 or self.high < 0


def paired_drop(reference: Scores, candidate: Scores, resamples: int = RESAMPLES, seed: int = 0,
                confidence: float = CONFIDENCE) -> Drop:
    """The candidate's drop against the reference and its percentile interval over `resamples` paired
    bootstrap resamples of the samples."""
    if reference.count != candidate.count:
        raise ValueError(f"the reference was scored on {reference.count} samples, the candidate on {candidate.count}")
    sign = 1.0 if reference.higher_is_better else -1.0

    def drop(indices: np.ndarray) -> float:
        return sign * (reference.value_of(indices) - candidate.value_of(indices))

    rng = np.random.default_rng(seed)
    n = reference.count
    spread = np.array([drop(rng.integers(0, n, n)) for _ in range(resamples)]) if n else np.zeros(1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(spread, [tail, 100 - tail])
    return Drop(drop(np.arange(n)), float(low), float(high), confidence, resamples)
