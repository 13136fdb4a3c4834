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
    # At most this many bootstrap resamples: a metric costly to evaluate (COCO mAP) says so here.
    resamples: int | None = None

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


def paired_drop(reference: Scores, candidate: Scores, resamples: int | None = None, seed: int = 0,
                confidence: float = CONFIDENCE) -> Drop:
    """The candidate's drop against the reference and its percentile interval over `resamples` paired
    bootstrap resamples of the samples (default: RESAMPLES, or fewer when either side's metric asks for fewer).

    A resample on which the metric is undefined (NaN: mAP of a resample without a truth box) is left out of the
    interval; `resamples` in the result counts the ones used."""
    if resamples is None:
        resamples = min([RESAMPLES, *(s.resamples for s in (reference, candidate) if s.resamples)])
    if reference.count != candidate.count:
        raise ValueError(f"the reference was scored on {reference.count} samples, the candidate on {candidate.count}")
    sign = 1.0 if reference.higher_is_better else -1.0

    def drop(indices: np.ndarray) -> float:
        return sign * (reference.value_of(indices) - candidate.value_of(indices))

    rng = np.random.default_rng(seed)
    n = reference.count
    spread = np.array([drop(rng.integers(0, n, n)) for _ in range(resamples)]) if n else np.zeros(1)
    spread = spread[np.isfinite(spread)]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(spread, [tail, 100 - tail]) if spread.size else (np.nan, np.nan)
    return Drop(drop(np.arange(n)), float(low), float(high), confidence, int(spread.size))


def scores_record(scores: Scores) -> dict:
    """What results.json says of one artifact's accuracy against the truth."""
    return {"metric": scores.metric, "value": scores.value, "higher_is_better": scores.higher_is_better,
            "samples": scores.count, **({"extras": scores.extras} if scores.extras else {})}


def accuracy_record(reference: Scores, candidate: Scores, resamples: int | None = None, seed: int = 0,
                    confidence: float = CONFIDENCE) -> dict:
    """The candidate's record plus its drop against the reference: positive = worse, whichever way the metric
    points; `distinguishable` when the interval excludes zero."""
    if reference.metric != candidate.metric:
        raise ValueError(f"the reference was scored by {reference.metric}, the candidate by {candidate.metric}")
    drop = paired_drop(reference, candidate, resamples, seed, confidence)
    return {**scores_record(candidate), "reference_value": reference.value, "drop": drop.value,
            "interval": [drop.low, drop.high], "confidence": drop.confidence, "resamples": drop.resamples,
            "distinguishable": drop.distinguishable}
