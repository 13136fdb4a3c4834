"""Pre- and post-processing: one numpy implementation shared by every runtime, parity and the benchmark.

Only inference differs between runtimes; these functions are timed separately around it. Kept free of
torch, ultralytics and the rest of this project (it imports numpy and Pillow only) so that a deploy bundle
ships this very file: predict.py there runs the code the benchmark ran.

Classification: resize the shorter side, centre-crop, normalise; postprocess = softmax + top-k.
Detection (YOLOv8-style raw head [B, 4 + classes, anchors], boxes as centre x, y, width, height in input
pixels): letterbox to size x size; postprocess = confidence filter + class-aware NMS, boxes mapped back to
the original image through the per-image `Letterbox` that preprocess_with_meta returns.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TASKS = ("classification", "detection", "raw")  # raw: outputs compared as tensors only


@dataclass(frozen=True)
class Processing:
    task: str = "classification"  # what pre/postprocess do
    size: int = 224  # square model input, pixels
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    crop_ratio: float = 0.875  # classification: resize shorter side to size / crop_ratio, then centre-crop
    top_k: int = 5
    pad_value: int = 114  # detection: letterbox border (ultralytics' grey)
    conf: float = 0.25  # detection: keep boxes whose best class score is above this
    iou: float = 0.7  # detection: NMS suppresses same-class boxes overlapping a better one above this
    max_det: int = 300  # detection: boxes kept per image
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: dict) -> Processing:
        """Flat preprocess keys plus an optional nested `postprocess: {conf, iou, max_det, top_k}` block."""
        flat = {**cfg, **(cfg.get("postprocess") or {})}
        known = {k: flat[k] for k in ("task", "size", "crop_ratio", "top_k", "pad_value", "conf", "iou", "max_det")
                 if k in flat and flat[k] is not None}
        for key in ("mean", "std"):
            if key in flat:
                known[key] = tuple(float(v) for v in flat[key])
        if known.get("task", cls.task) not in TASKS:  # the run says it as one line first (pipeline.config)
            raise ValueError(f"model.task={known['task']!r} has no pre/postprocess; known: {', '.join(TASKS)}")
        return cls(**known)


@dataclass(frozen=True)
class Letterbox:
    """How one image was placed into the model input: input x = original x * scale_x + left (y likewise)."""

    height: int  # original image
    width: int
    scale_x: float  # per axis: rounding the resized size makes them differ slightly, and boxes should not
    scale_y: float
    left: int
    top: int

    def to_original(self, boxes: np.ndarray) -> np.ndarray:
        """xyxy boxes in model-input pixels -> original-image pixels, clipped to the image."""
        out = boxes.astype(np.float32, copy=True)
        out[:, [0, 2]] = ((out[:, [0, 2]] - self.left) / self.scale_x).clip(0, self.width)
        out[:, [1, 3]] = ((out[:, [1, 3]] - self.top) / self.scale_y).clip(0, self.height)
        return out

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """xyxy boxes in original-image pixels -> model-input pixels (the inverse of to_original)."""
        out = boxes.astype(np.float32, copy=True)
        out[:, [0, 2]] = out[:, [0, 2]] * self.scale_x + self.left
        out[:, [1, 3]] = out[:, [1, 3]] * self.scale_y + self.top
        return out


def resize_center_crop(image: np.ndarray, size: int, crop_ratio: float) -> np.ndarray:
    from PIL import Image

    height, width = image.shape[:2]
    short = round(size / crop_ratio)
    scale = short / min(height, width)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return resized[top : top + size, left : left + size]


def letterbox(image: np.ndarray, size: int, pad_value: int = 114) -> tuple[np.ndarray, Letterbox]:
    """Scale the whole image to fit size x size keeping its aspect ratio, centre it on a pad_value border."""
    from PIL import Image

    height, width = image.shape[:2]
    scale = min(size / height, size / width)
    new_w, new_h = min(size, round(width * scale)), min(size, round(height * scale))
    left, top = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.full((size, size, 3), pad_value, np.uint8)
    resized = image if (new_w, new_h) == (width, height) else np.asarray(
        Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas, Letterbox(height, width, new_w / width, new_h / height, left, top)


def preprocess_with_meta(images: list[np.ndarray], proc: Processing,
                         layout: str = "NCHW") -> tuple[np.ndarray, list[Letterbox] | None]:
    """uint8 HxWx3 RGB images -> (float32 batch in `layout` (NCHW or NHWC), normalised; per-image meta).

    The meta is what postprocess needs to map results back to the original images (letterbox placement
    for detection; None for classification, whose outputs do not refer to pixels).
    """
    meta = None
    if proc.task == "detection":
        placed = [letterbox(im, proc.size, proc.pad_value) for im in images]
        pixels, meta = np.stack([p[0] for p in placed]), [p[1] for p in placed]
    else:
        pixels = np.stack([resize_center_crop(im, proc.size, proc.crop_ratio) for im in images])
    batch = pixels.astype(np.float32) * np.float32(1 / 255)
    if any(m != 0 for m in proc.mean) or any(s != 1 for s in proc.std):  # YOLO takes plain /255: skip a no-op
        batch = (batch - np.asarray(proc.mean, np.float32)) / np.asarray(proc.std, np.float32)
    if layout == "NCHW":
        batch = batch.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch), meta


def preprocess(images: list[np.ndarray], proc: Processing, layout: str = "NCHW") -> np.ndarray:
    """The batch alone (parity inputs do not need the meta)."""
    return preprocess_with_meta(images, proc, layout)[0]


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


def top_k(logits: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (best first) and probabilities of the k best classes per row."""
    probs = softmax(logits.reshape(logits.shape[0], -1).astype(np.float32))
    k = min(k, probs.shape[1])
    idx = np.argpartition(-probs, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(probs, idx, axis=1), axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, axis=1)
    return idx, np.take_along_axis(probs, idx, axis=1)


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


def detect(prediction: np.ndarray, proc: Processing, letterbox_meta: Letterbox | None = None) -> dict:
    """One image's raw head output [4 + classes, anchors] -> boxes (xyxy), scores, classes after NMS."""
    scores_all = prediction[4:]
    classes = scores_all.argmax(axis=0)
    scores = scores_all[classes, np.arange(scores_all.shape[1])]
    candidates = np.flatnonzero(scores > proc.conf)
    boxes = xywh_to_xyxy(prediction[:4, candidates].T.astype(np.float32))
    keep = nms(boxes, scores[candidates], classes[candidates], proc.iou, proc.max_det)
    boxes = boxes[keep]
    if letterbox_meta is not None:
        boxes = letterbox_meta.to_original(boxes)
    return {"boxes": boxes, "scores": scores[candidates][keep].astype(np.float32),
            "classes": classes[candidates][keep].astype(np.int64)}


def postprocess(outputs: list[np.ndarray], proc: Processing, meta: list[Letterbox] | None = None) -> dict:
    """Task output from raw model outputs (in the reference's order).

    classification: {"top_k": [B, k] class indices, "probs": [B, k]} from the first output.
    detection: {"boxes": [B x (n, 4) xyxy], "scores": [B x (n,)], "classes": [B x (n,)]} per image, boxes in
    original-image pixels when `meta` (from preprocess_with_meta) is given, else in model-input pixels.
    """
    if proc.task == "classification":
        idx, probs = top_k(outputs[0], proc.top_k)
        return {"top_k": idx, "probs": probs}
    if proc.task == "detection":
        found = [detect(pred, proc, meta[i] if meta else None) for i, pred in enumerate(outputs[0])]
        return {key: [f[key] for f in found] for key in ("boxes", "scores", "classes")}
    if proc.task == "raw":
        return {"raw": outputs}
    raise ValueError(f"task={proc.task!r} has no postprocess; known: {', '.join(TASKS)}")
