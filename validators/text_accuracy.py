"""Text recognition against the truth's strings: character accuracy (1 - CER) as the metric, word accuracy
(1 - WER) and the share of exact matches in the extras.

CER = the sum over samples of the edit distance (insertions, deletions, substitutions of characters) over the
sum of the truths' lengths; WER likewise over words (whitespace-separated). Both may exceed 1 when the
prediction inserts much: the accuracies are then below 0, as the error rates say.
"""
from __future__ import annotations

import numpy as np
from rapidfuzz.distance import Levenshtein

from truth.samples import LabelledSet
from validators.accuracy import Scores


def text_scores(truth: LabelledSet, texts: list[str]) -> Scores:
    """texts: the recognised string per sample of `truth`, in its order."""
    if len(texts) != len(truth):
        raise ValueError(f"{len(texts)} recognised texts for the truth's {len(truth)} samples")
    expected = [sample.text or "" for sample in truth.samples]
    char_edits = np.array([Levenshtein.distance(t, p) for t, p in zip(expected, texts, strict=True)], float)
    chars = np.array([len(t) for t in expected], float)
    word_edits = np.array([Levenshtein.distance(t.split(), p.split()) for t, p in zip(expected, texts, strict=True)],
                          float)
    words = np.array([len(t.split()) for t in expected], float)
    exact = np.array([t == p for t, p in zip(expected, texts, strict=True)])

    def accuracy(edits: np.ndarray, lengths: np.ndarray, indices: np.ndarray) -> float:
        total = lengths[indices].sum()
        return float(1 - edits[indices].sum() / total) if total else float("nan")

    everything = np.arange(len(truth))
    return Scores("character accuracy", True, len(truth), lambda indices: accuracy(char_edits, chars, indices),
                  extras={"CER": 1 - accuracy(char_edits, chars, everything),
                          "word accuracy": accuracy(word_edits, words, everything),
                          "exact match": float(exact.mean())})
