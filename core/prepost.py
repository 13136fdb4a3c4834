"""Pre- and post-processing: one numpy implementation shared by every runtime, parity and the benchmark.

Only inference differs between runtimes; these functions are timed separately around it. Kept free of
torch, ultralytics and the rest of this project (it imports numpy and Pillow only) so that a deploy bundle
ships this very file: predict.py there runs the code the benchmark ran.

Sizes are (height, width): the model input need not be square. Photos are read as RGB; a model trained on BGR
(OpenCV-read) images takes `channels="BGR"`: the channels are swapped before normalisation, so its mean and std
are given in the model's own channel order.
Classification: resize, centre-crop, normalise; postprocess = softmax + top-k.
Detection (YOLOv8-style raw head [B, 4 + classes, anchors], boxes as centre x, y, width, height in input
pixels): letterbox; postprocess = confidence filter + class-aware NMS (core/boxes.py), boxes mapped back to
the original image through the per-image `Letterbox` that preprocess_with_meta returns.
Segmentation ([B, C, H, W] scores): resize, normalise; postprocess = a class per pixel (core/masks.py).
Sequence ([B, T, C] scores per step, e.g. a text recognizer): the line resized to the input's height, padded on the
right; postprocess = the best class per step, CTC-decoded into strings when `decode="ctc"` (core/sequences.py).
A 1-channel model takes `channels="GRAY"`: the photo's ITU-R 601 luma, with one mean and one std (three are
taken as the luma of their colour).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.boxes import detect
from core.masks import class_maps, to_original

TASKS = ("classification", "detection", "segmentation", "sequence", "raw")  # raw: outputs compared as tensors only
CHANNELS = ("RGB", "BGR", "GRAY")  # the channels a model takes (photos are read as RGB; GRAY: one, their luma)
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B


@dataclass(frozen=True)
class Processing:
    task: str = "classification"  # what pre/postprocess do
    size: tuple[int, int] = (224, 224)  # model input (height, width), pixels
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    crop_ratio: float = 0.875  # classification: resize so the crop covers size / crop_ratio, then centre-crop
    top_k: int = 5
    pad_value: int = 114  # detection: letterbox border (ultralytics' grey)
    conf: float = 0.25  # detection: keep boxes whose best class score is above this
    iou: float = 0.7  # detection: NMS suppresses same-class boxes overlapping a better one above this
    max_det: int = 300  # detection: boxes kept per image
    threshold: float = 0.5  # segmentation with one channel: a pixel above it is foreground
    channels: str = "RGB"  # the channel order the model takes: BGR swaps the photos' channels before normalising
    decode: str = ""  # sequence: "ctc" decodes the best class per step into strings (core/sequences.py)
    blank: int = 0  # sequence: the CTC blank class
    symbols: tuple[str, ...] = ()  # sequence: one symbol per class (the vocabulary), to spell what was read
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "size", hw(self.size))  # an int is a square
        if self.channels not in CHANNELS:  # the run says it as one line first (pipeline.schema)
            raise ValueError(f"channels={self.channels!r} is not allowed; allowed: {', '.join(CHANNELS)}")
        if self.channels == "GRAY":  # one channel: a mean or std given per colour becomes that colour's luma
            for key in ("mean", "std"):
                values = getattr(self, key)
                if len(values) not in (1, 3):
                    raise ValueError(f"{key}={list(values)} is not allowed with channels=GRAY; give one value")
                object.__setattr__(self, key, (luma(values),) if len(values) == 3 else tuple(values))

    @classmethod
    def from_config(cls, cfg: dict) -> Processing:
        """Flat preprocess keys plus an optional nested `postprocess: {conf, iou, max_det, top_k}` block."""
        flat = {**cfg, **(cfg.get("postprocess") or {})}
        known = {k: flat[k] for k in ("task", "crop_ratio", "top_k", "pad_value", "conf", "iou", "max_det",
                                      "threshold", "channels", "decode", "blank") if k in flat and flat[k] is not None}
        if flat.get("symbols"):
            known["symbols"] = tuple(str(s) for s in flat["symbols"])
        if flat.get("size") is not None:
            known["size"] = hw(flat["size"])
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


def luma(rgb) -> float:
    return float(sum(w * v for w, v in zip(LUMA, rgb, strict=True)))


def hw(size) -> tuple[int, int]:
    """An int (square) or [height, width] -> (height, width)."""
    if isinstance(size, int | np.integer):
        return int(size), int(size)
    height, width = size
    return int(height), int(width)


def _resized(image: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    if image.shape[1] == width and image.shape[0] == height:
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def resize_center_crop(image: np.ndarray, size: int | tuple[int, int], crop_ratio: float) -> np.ndarray:
    """Scale so that a centred crop of size / crop_ratio covers the image's shorter side, then crop size."""
    out_h, out_w = hw(size)
    height, width = image.shape[:2]
    scale = max(out_h / height, out_w / width) / crop_ratio
    new_w, new_h = max(out_w, round(width * scale)), max(out_h, round(height * scale))
    resized = _resized(image, new_w, new_h)
    top, left = (new_h - out_h) // 2, (new_w - out_w) // 2
    return resized[top : top + out_h, left : left + out_w]


def letterbox(image: np.ndarray, size: int | tuple[int, int], pad_value: int = 114) -> tuple[np.ndarray, Letterbox]:
    """Scale the whole image to fit keeping its aspect ratio, centre it on a pad_value border."""
    out_h, out_w = hw(size)
    height, width = image.shape[:2]
    scale = min(out_h / height, out_w / width)
    new_w, new_h = min(out_w, round(width * scale)), min(out_h, round(height * scale))
    left, top = (out_w - new_w) // 2, (out_h - new_h) // 2
    canvas = np.full((out_h, out_w, 3), pad_value, np.uint8)
    canvas[top : top + new_h, left : left + new_w] = _resized(image, new_w, new_h)
    return canvas, Letterbox(height, width, new_w / width, new_h / height, left, top)


def stretch(image: np.ndarray, size: int | tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Resize to exactly size (the aspect ratio may change), as segmentation models are fed."""
    out_h, out_w = hw(size)
    height, width = image.shape[:2]
    return _resized(image, out_w, out_h), Letterbox(height, width, out_w / width, out_h / height, 0, 0)


def preprocess_with_meta(images: list[np.ndarray], proc: Processing,
                         layout: str = "NCHW") -> tuple[np.ndarray, list[Letterbox] | None]:
    """uint8 HxWx3 RGB images -> (float32 batch in `layout` (NCHW or NHWC), in the model's channel order
    (`proc.channels`), normalised; per-image meta).

    The meta is what postprocess needs to map results back to the original images (letterbox placement
    for detection, the resize for segmentation; None for classification, whose outputs do not refer to pixels).
    """
    meta, filled = None, None
    if proc.task == "sequence":
        from core.sequences import fit_height  # here: a bundle of another task ships without core/sequences.py

        placed = [fit_height(im, proc.size) for im in images]
        pixels, filled = np.stack([p[0] for p in placed]), [p[1] for p in placed]
    elif proc.task in ("detection", "segmentation"):
        place = (lambda im: letterbox(im, proc.size, proc.pad_value)) if proc.task == "detection" else \
            (lambda im: stretch(im, proc.size))
        placed = [place(im) for im in images]
        pixels, meta = np.stack([p[0] for p in placed]), [p[1] for p in placed]
    else:
        pixels = np.stack([resize_center_crop(im, proc.size, proc.crop_ratio) for im in images])
    if proc.channels == "BGR":  # before normalising: mean and std are in the model's channel order
        pixels = pixels[..., ::-1]
    if proc.channels == "GRAY":
        pixels = (pixels.astype(np.float32) @ np.asarray(LUMA, np.float32))[..., None]
    batch = pixels.astype(np.float32) * np.float32(1 / 255)
    if any(m != 0 for m in proc.mean) or any(s != 1 for s in proc.std):  # YOLO takes plain /255: skip a no-op
        batch = (batch - np.asarray(proc.mean, np.float32)) / np.asarray(proc.std, np.float32)
    for i, width in enumerate(filled or []):  # a line narrower than the input: the rest is 0, as PaddleOCR pads
        batch[i, :, width:] = 0
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


def postprocess(outputs: list[np.ndarray], proc: Processing, meta: list[Letterbox] | None = None) -> dict:
    """Task output from raw model outputs (in the reference's order).

    classification: {"top_k": [B, k] class indices, "probs": [B, k]} from the first output.
    detection: {"boxes": [B x (n, 4) xyxy], "scores": [B x (n,)], "classes": [B x (n,)]} per image, boxes in
    original-image pixels when `meta` (from preprocess_with_meta) is given, else in model-input pixels.
    segmentation: {"masks": [B x (H, W) int64 class per pixel]}, at the original image's size when `meta` is
    given, else at the model's.
    sequence: {"indices": [B, T] the best class per step} and with decode="ctc" {"sequences": the classes read
    per sample, "texts": them spelled with the symbols (class indices without)}.
    """
    if proc.task == "classification":
        idx, probs = top_k(outputs[0], proc.top_k)
        return {"top_k": idx, "probs": probs}
    if proc.task == "detection":
        found = [detect(pred, proc.conf, proc.iou, proc.max_det) for pred in outputs[0]]
        if meta:
            for placed, one in zip(meta, found, strict=True):
                one["boxes"] = placed.to_original(one["boxes"])
        return {key: [f[key] for f in found] for key in ("boxes", "scores", "classes")}
    if proc.task == "segmentation":
        maps = list(class_maps(outputs[0], proc.threshold))
        if meta:
            maps = [to_original(m, placed.height, placed.width) for m, placed in zip(maps, meta, strict=True)]
        return {"masks": maps}
    if proc.task == "sequence":
        from core.sequences import read

        return read(outputs[0], proc.decode, proc.blank, proc.symbols)
    if proc.task == "raw":
        return {"raw": outputs}
    raise ValueError(f"task={proc.task!r} has no postprocess; known: {', '.join(TASKS)}")
