"""Detection postprocess (YOLOv8-style raw head [4 + classes, anchors], boxes as centre x, y, width, height in
input pixels): confidence filter and class-aware NMS, in numpy."""
from __future__ import annotations

import numpy as np


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    half = boxes[:, 2:4] / 2
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with each of `boxes` (n x 4)."""
    width = (np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])).clip(0)
    height = (np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])).clip(0)
    inter = width * height
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float, max_det: int) -> np.ndarray:
    """Greedy class-aware NMS: indices of kept boxes, best score first.

    Best box first; it suppresses the remaining boxes of its class that overlap it by more than `iou`.
    Stops at max_det kept, so the cost is at most max_det passes over the candidates.
    """
    order = np.argsort(-scores, kind="stable")  # stable: equal scores keep anchor order on every runtime
    keep: list[int] = []
    while order.size and len(keep) < max_det:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        same = np.flatnonzero(classes[rest] == classes[best])
        overlapping = same[box_iou(boxes[best], boxes[rest[same]]) > iou]
        order = np.delete(rest, overlapping)
    return np.asarray(keep, dtype=np.int64)


def detect(prediction: np.ndarray, conf: float, iou: float, max_det: int) -> dict:
    """One image's raw head output [4 + classes, anchors] -> boxes (xyxy, input pixels), scores, classes."""
    scores_all = prediction[4:]
    classes = scores_all.argmax(axis=0)
    scores = scores_all[classes, np.arange(scores_all.shape[1])]
    candidates = np.flatnonzero(scores > conf)
    boxes = xywh_to_xyxy(prediction[:4, candidates].T.astype(np.float32))
    keep = nms(boxes, scores[candidates], classes[candidates], iou, max_det)
    return {"boxes": boxes[keep], "scores": scores[candidates][keep].astype(np.float32),
            "classes": classes[candidates][keep].astype(np.int64)}
