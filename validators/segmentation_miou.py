"""Mean IoU of predicted class maps against the truth's PNG masks.

Per image and class the intersection and the union of the pixels, leaving out the truth's ignore pixels (255);
a resample sums them over its images and averages intersection / union over the classes present in the truth
or the prediction there. Pixel accuracy (over the pixels not ignored) is in the extras.
"""
from __future__ import annotations

import numpy as np

from truth.labelled_set import IGNORE, LabelledSet
from truth.mask_folder import read_mask
from validators.accuracy import Scores


def segmentation_scores(truth: LabelledSet, maps: list[np.ndarray]) -> Scores:
    """maps: one [H, W] class map per sample of `truth`, in its order, at the image's own size."""
    if len(maps) != len(truth):
        raise ValueError(f"{len(maps)} class maps for the truth's {len(truth)} samples")
    masks = [read_mask(sample.mask) for sample in truth.samples]
    pairs = []
    for mask, found, sample in zip(masks, maps, truth.samples, strict=True):
        if found.shape != mask.shape:
            raise ValueError(f"the class map of {sample.image!r} is {list(found.shape)}, its mask "
                             f"{list(mask.shape)}: predict at the image's own size")
        scored = mask != IGNORE
        pairs.append((mask[scored].astype(np.int64), np.asarray(found)[scored].astype(np.int64)))
    classes = max([len(truth.classes), *(int(p.max(initial=-1)) + 1 for pair in pairs for p in pair)])
    intersection = np.zeros((len(truth), classes))
    union = np.zeros((len(truth), classes))
    for i, (expected, found) in enumerate(pairs):
        both = np.bincount(expected[expected == found], minlength=classes)
        intersection[i] = both
        union[i] = np.bincount(expected, minlength=classes) + np.bincount(found, minlength=classes) - both
    scored_pixels = np.array([len(expected) for expected, _ in pairs], float)

    def mean_iou(indices: np.ndarray) -> float:
        inter, total = intersection[indices].sum(axis=0), union[indices].sum(axis=0)
        present = total > 0
        return float((inter[present] / total[present]).mean()) if present.any() else float("nan")

    pixels = scored_pixels.sum()
    return Scores("mIoU", True, len(truth), mean_iou,
                  extras={"pixel accuracy": float(intersection.sum() / pixels) if pixels else float("nan"),
                          "classes present": int((union.sum(axis=0) > 0).sum())})
