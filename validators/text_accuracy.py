"""Text recognition against the truth's strings: character accuracy (1 - CER) as the metric, word accuracy
(1 - WER) and the share of exact matches in the extras.

CER = the sum over samples of the edit distance (insertions, deletions, substitutions of characters) over the
sum of the truths' lengths; WER likewise over words (whitespace-separated). Both may exceed 1 when the
prediction inserts much: the accuracies are then below 0, as the error rates say.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rapidfuzz.distance import Levenshtein

from truth.labelled_set import LabelledSet
from validators.accuracy import Scores


def edit_counts(expected: Sequence, read: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample: the edits from the expected sequence (a string, or a sequence of classes) to the one read, the
    expected length, and whether they are the same."""
    if len(read) != len(expected):
        raise ValueError(f"{len(read)} recognised texts for the truth's {len(expected)} samples")
    edits = np.array([Levenshtein.distance(t, p) for t, p in zip(expected, read, strict=True)], float)
    lengths = np.array([len(t) for t in expected], float)
    return edits, lengths, np.array([tuple(t) == tuple(p) for t, p in zip(expected, read, strict=True)], bool)


def error_rate(edits: np.ndarray, lengths: np.ndarray) -> float:
    """Edits over the expected length, summed over the samples (nan when nothing was expected)."""
    total = lengths.sum()
    return float(edits.sum() / total) if total else float("nan")


def text_scores(truth: LabelledSet, texts: list[str]) -> Scores:
    """texts: the recognised string per sample of `truth`, in its order."""
    expected = [sample.text or "" for sample in truth.samples]
    char_edits, chars, exact = edit_counts(expected, texts)
    word_edits, words, _ = edit_counts([t.split() for t in expected], [p.split() for p in texts])

    def accuracy(edits: np.ndarray, lengths: np.ndarray, indices: np.ndarray) -> float:
        return 1 - error_rate(edits[indices], lengths[indices])

    everything = np.arange(len(truth))
    return Scores("character accuracy", True, len(truth), lambda indices: accuracy(char_edits, chars, indices),
                  extras={"CER": 1 - accuracy(char_edits, chars, everything),
                          "word accuracy": accuracy(word_edits, words, everything),
                          "exact match": float(exact.mean())})
