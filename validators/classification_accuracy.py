"""Top-1 accuracy of a classifier against the truth's class per image (top-5 in the extras)."""
from __future__ import annotations

import numpy as np

from core.errors import UserError
from truth.labelled_set import LabelledSet
from validators.accuracy import Scores

TOP_K = 5


def classification_scores(truth: LabelledSet, logits: np.ndarray) -> Scores:
    """logits: [N, C] scores (logits or probabilities: only their order counts), one row per sample of `truth`
    in its order."""
    logits = np.asarray(logits)
    if logits.ndim != 2 or len(logits) != len(truth):
        raise ValueError(f"classification scores are [N, C] for the truth's {len(truth)} samples; got shape "
                         f"{list(logits.shape)}")
    labels = np.array([sample.label for sample in truth.samples], dtype=np.int64)
    beyond = np.flatnonzero(labels >= logits.shape[1])
    if beyond.size:
        sample = truth.samples[beyond[0]]
        raise UserError(f"{truth.source}: {sample.image!r} is labelled class {sample.label}, but the model has "
                        f"{logits.shape[1]} classes; allowed: labels 0..{logits.shape[1] - 1}")
    k = min(TOP_K, logits.shape[1])
    best = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    top1 = best[:, 0] == labels
    topk = (best == labels[:, None]).any(axis=1)
    return Scores("top-1 accuracy", True, len(truth), lambda indices: float(top1[indices].mean()),
                  extras={f"top-{k} accuracy": float(topk.mean())})
