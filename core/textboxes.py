"""Text boxes from a text detector's probability map (DBNet: PP-OCR, RapidOCR), in numpy: what RapidOCR's
DBPostProcess does, with axis-aligned boxes where it fits rotated rectangles.

RapidOCR 1.4.4 (its config.yaml, ch_ppocr_det/utils.py): binarize at thresh 0.3, dilate by a 2x2 kernel, take the
contours of the regions, drop a region whose box has a side under min_size 3, score it by the mean probability
inside its box ("fast" score) and drop it under box_thresh 0.5, grow the box by area * unclip_ratio / perimeter
(unclip_ratio 1.6: the network was trained on text shrunk by that much), drop it if a side is still under
min_size + 2, scale it to the image.

Its contour points are pixel centres: a region over columns x0..x1 has a box x1 - x0 wide. After the 2x2 dilation
(which adds a column on the right and a row below) that box, [x0, x1 + 1], is the region's extent in pixel edges
before the dilation. Boxes here are in those units: map pixels, xyxy, edges.
"""
from __future__ import annotations

import numpy as np


def text_boxes(prob: np.ndarray, threshold: float = 0.3, box_threshold: float = 0.5, unclip_ratio: float = 1.6,
               min_size: float = 3, dilate: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (n, 4) xyxy float32 in map pixels, clipped to the map, and their scores (n,) float32, in the order of
    their regions' first pixel (top to bottom, then left to right)."""
    prob = np.asarray(prob, dtype=np.float32)
    if prob.ndim != 2:
        raise ValueError(f"a probability map is [H, W]; got shape {prob.shape}")
    height, width = prob.shape
    mask = prob > threshold
    if dilate:  # as cv2.dilate with a 2x2 kernel (anchor at its centre): a pixel takes its up and left neighbours
        grown = mask.copy()
        grown[1:] |= mask[:-1]
        grown[:, 1:] |= grown[:, :-1]
        mask = grown
    x0, y0, x1, y1 = regions(mask)
    # RapidOCR's box, in pixel centres of the dilated mask: its sides are x1 - x0 and y1 - y0
    w, h = (x1 - x0).astype(np.float32), (y1 - y0).astype(np.float32)
    keep = np.minimum(w, h) >= min_size
    x0, y0, x1, y1, w, h = (a[keep] for a in (x0, y0, x1, y1, w, h))
    scores = box_means(prob, x0, y0, x1 + 1, y1 + 1)
    keep = scores >= box_threshold
    x0, y0, x1, y1, w, h, scores = (a[keep] for a in (x0, y0, x1, y1, w, h, scores))
    grow = w * h * unclip_ratio / np.maximum(2 * (w + h), 1e-6)
    keep = np.minimum(w, h) + 2 * grow >= min_size + 2
    boxes = np.stack([x0 - grow, y0 - grow, x1 + grow, y1 + grow], axis=1)[keep] if len(w) else np.zeros((0, 4))
    boxes = boxes.astype(np.float32)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return boxes, scores[keep].astype(np.float32)


def box_means(prob: np.ndarray, x0, y0, x1, y1) -> np.ndarray:
    """The mean of prob over each box of pixel indices [y0, y1) x [x0, x1). One slice per box: a summed-area
    table of the whole map costs more than the few hundred boxes a text map has."""
    corners = zip(x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist(), strict=True)
    return np.array([prob[top:bottom, left:right].mean(dtype=np.float64) for left, top, right, bottom in corners],
                    np.float32).reshape(-1)


def regions(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The bounding boxes of the 8-connected regions of a boolean mask, as inclusive pixel indices (x0, y0, x1, y1),
    one entry per region, ordered by each region's first pixel in row-major order.

    Runs of set pixels per row; two runs on neighbouring rows touch when their columns, widened by one on each side
    (diagonal neighbours), overlap; a union-find over those pairs joins them into regions."""
    height, width = mask.shape
    stride = width + 1  # a column of zeros after each row: no run crosses into the next row
    flat = np.zeros(height * stride + 1, bool)
    flat[1:].reshape(height, stride)[:, :width] = mask
    changes = np.flatnonzero(flat[1:] != flat[:-1])  # a run's first pixel, then the pixel after its last, ...
    if changes.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, empty
    start_keys, end_keys = changes[0::2], changes[1::2] - 1  # positions in the padded rows, ends inclusive
    rows, starts = np.divmod(start_keys, stride)
    ends = end_keys - rows * stride
    # Each run on row r touches the runs of row r - 1 whose [start, end] meets [start - 1, end + 1]; runs of a row
    # are disjoint and sorted, so those form one contiguous range of runs, found by binary search on the
    # positions (which order the runs row by row, then by column).
    above = (rows - 1) * stride
    first = np.searchsorted(end_keys, above + starts - 1, side="left")
    last = np.searchsorted(start_keys, above + ends + 1, side="right")
    counts = np.maximum(last - first, 0)
    lower = np.repeat(np.arange(starts.size), counts)
    upper = np.repeat(first, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    labels = _join(starts.size, lower, upper)
    # regions in the order of their first run (labels are each region's smallest run index)
    _, region = np.unique(labels, return_inverse=True)
    n = region.max() + 1
    x0 = np.full(n, width, np.int64)
    y0 = np.full(n, height, np.int64)
    x1 = np.full(n, -1, np.int64)
    y1 = np.full(n, -1, np.int64)
    np.minimum.at(x0, region, starts)
    np.minimum.at(y0, region, rows)
    np.maximum.at(x1, region, ends)
    np.maximum.at(y1, region, rows)
    return x0, y0, x1, y1


def _join(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of n nodes joined by the edges (a[i], b[i]): each node's label is the smallest node
    of its component. Hooking to the smaller label and pointer jumping, all in numpy, until nothing changes."""
    labels = np.arange(n)
    while True:
        la, lb = labels[a], labels[b]
        low = np.minimum(la, lb)
        before = labels.copy()
        np.minimum.at(labels, la, low)  # hook each root to the smaller root of its neighbour
        np.minimum.at(labels, lb, low)
        while True:  # pointer jumping until every node points at a root
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels, before):
            return labels
