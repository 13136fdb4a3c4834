"""Segmentation postprocess: per-pixel class maps from a [N, C, H, W] output (argmax over C), or, for a single
channel (a probability map such as a text detector's), the pixels above a threshold as class 1."""
from __future__ import annotations

import numpy as np


def class_maps(output: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """[N, C, H, W] scores -> [N, H, W] int64 classes (C == 1: 1 where the score is above `threshold`)."""
    if output.ndim != 4:
        raise ValueError(f"a segmentation output is [N, C, H, W]; got shape {list(output.shape)}")
    if output.shape[1] == 1:
        return (output[:, 0] > threshold).astype(np.int64)
    return output.argmax(axis=1).astype(np.int64)


def to_original(classes: np.ndarray, height: int, width: int) -> np.ndarray:
    """One [H, W] class map resized (nearest) to the original image's height x width."""
    rows = (np.arange(height) * classes.shape[0] // height).clip(0, classes.shape[0] - 1)
    cols = (np.arange(width) * classes.shape[1] // width).clip(0, classes.shape[1] - 1)
    return classes[rows][:, cols]


def class_pixels(classes: np.ndarray) -> dict[int, int]:
    """{class: pixel count} of one class map."""
    values, counts = np.unique(classes, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True)}
