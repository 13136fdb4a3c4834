"""Pre- and post-processing: one numpy implementation shared by every runtime, parity and the benchmark.

Only inference differs between runtimes; these functions are timed separately around it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Processing:
    task: str = "classification"  # what postprocess does with the outputs
    size: int = 224  # square model input, pixels
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    crop_ratio: float = 0.875  # classification: resize shorter side to size / crop_ratio, then centre-crop
    top_k: int = 5
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: dict) -> Processing:
        known = {k: cfg[k] for k in ("task", "size", "crop_ratio", "top_k") if k in cfg}
        for key in ("mean", "std"):
            if key in cfg:
                known[key] = tuple(float(v) for v in cfg[key])
        return cls(**known)


def resize_center_crop(image: np.ndarray, size: int, crop_ratio: float) -> np.ndarray:
    from PIL import Image

    height, width = image.shape[:2]
    short = round(size / crop_ratio)
    scale = short / min(height, width)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return resized[top : top + size, left : left + size]


def preprocess(images: list[np.ndarray], proc: Processing, layout: str = "NCHW") -> np.ndarray:
    """uint8 HxWx3 RGB images -> float32 batch in `layout` (NCHW or NHWC), normalised."""
    crops = np.stack([resize_center_crop(im, proc.size, proc.crop_ratio) for im in images])
    batch = crops.astype(np.float32) * np.float32(1 / 255)
    batch = (batch - np.asarray(proc.mean, np.float32)) / np.asarray(proc.std, np.float32)
    if layout == "NCHW":
        batch = batch.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch)


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


def postprocess(outputs: list[np.ndarray], proc: Processing) -> dict:
    """Task output from raw model outputs (in the reference's order): classification = top-k of the first."""
    if proc.task == "classification":
        idx, probs = top_k(outputs[0], proc.top_k)
        return {"top_k": idx, "probs": probs}
    return {"raw": outputs}
