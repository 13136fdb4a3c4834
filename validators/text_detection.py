"""Text-line detection judged against the truth: a text detector's probability maps (DBNet: [N, 1, H, W]) become
boxes by core.textboxes, are mapped back to each image's own pixels (the model saw the image stretched to H x W)
and matched one-to-one to the true lines at IoU >= match_iou. The metric is the Hmean (F1) of precision and
recall pooled over the samples, as ICDAR-style text detection is reported."""
from __future__ import annotations

import numpy as np

from core.errors import UserError
from core.images import split_rotation
from core.prepost import Letterbox
from core.textboxes import text_boxes
from truth.labelled_set import LabelledSet
from validators.accuracy import Scores
from validators.task_metrics import match_count

METRIC = "Hmean (IoU 0.5)"
DEFAULTS = {"threshold": 0.3, "box_threshold": 0.5, "unclip_ratio": 1.6, "min_size": 3, "match_iou": 0.5}


def text_detection_scores(maps: np.ndarray, truth: LabelledSet, settings: dict | None = None,
                          sizes: list[tuple[int, int]] | None = None) -> Scores:
    """Scores of the maps (one per truth sample, in its order) against the truth's line boxes. `sizes` are the
    images' (height, width) as the model's input was made from them; read from the image files when not given."""
    chosen = _settings(settings)
    if truth.kind != "boxes":
        raise UserError(f"text detection is judged on a set of kind 'boxes'; this one is {truth.kind!r}")
    maps = np.asarray(maps)
    if maps.ndim != 4 or maps.shape[1] != 1 or maps.shape[0] != len(truth):
        raise UserError(f"text detection takes maps [N, 1, H, W] for the {len(truth)} samples; got shape "
                        f"{list(maps.shape)}")
    sizes = sizes or [image_size(sample.image) for sample in truth.samples]
    counts = np.array([_counts(prob[0], sample.boxes or (), size, chosen)
                       for prob, sample, size in zip(maps, truth.samples, sizes, strict=True)], np.int64)
    counts = counts.reshape(-1, 3)
    matched, predicted, true = counts.sum(axis=0)

    def hmean(indices: np.ndarray) -> float:
        m, p, t = counts[indices].sum(axis=0)
        return 2 * m / (p + t) if p + t else 1.0  # 2PR / (P + R) with P = m / p, R = m / t

    precision = matched / predicted if predicted else 0.0
    recall = matched / true if true else 0.0
    return Scores(METRIC.replace("0.5", f"{chosen['match_iou']:g}"), True, len(truth), hmean,
                  {"precision": float(precision), "recall": float(recall), "lines": int(true),
                   "predicted": int(predicted), "matched": int(matched), "settings": chosen})


def image_boxes(prob: np.ndarray, size: tuple[int, int], settings: dict | None = None) -> tuple[np.ndarray,
                                                                                              np.ndarray]:
    """One map [H, W] -> text boxes (xyxy) in the pixels of the image of `size` (height, width), and their
    scores."""
    chosen = _settings(settings)
    boxes, scores = text_boxes(prob, chosen["threshold"], chosen["box_threshold"], chosen["unclip_ratio"],
                               chosen["min_size"])
    height, width = size
    placed = Letterbox(height, width, prob.shape[1] / width, prob.shape[0] / height, 0, 0)  # a plain stretch
    return placed.to_original(boxes), scores


def line_counts(found: np.ndarray, scores: np.ndarray, true_boxes, match_iou: float) -> tuple[int, int, int]:
    """(matched, predicted, true): found boxes matched one-to-one to the true ones, best score first."""
    true_boxes = np.asarray(true_boxes, np.float32).reshape(-1, 4)
    matched = match_count(true_boxes, np.zeros(len(true_boxes), np.int64), found, np.zeros(len(found), np.int64),
                          scores, match_iou)
    return matched, len(found), len(true_boxes)


def image_size(spec: str) -> tuple[int, int]:
    """(height, width) of an image as core.images.load_rgb returns it (turned a quarter: the sides swap), read
    from the file's header."""
    from PIL import Image

    file, degrees = split_rotation(spec)
    with Image.open(file) as image:
        width, height = image.size
    return (width, height) if degrees in (90, 270) else (height, width)


def _counts(prob: np.ndarray, true_boxes, size: tuple[int, int], chosen: dict) -> tuple[int, int, int]:
    found, scores = image_boxes(prob, size, chosen)
    return line_counts(found, scores, true_boxes, chosen["match_iou"])


def _settings(settings: dict | None) -> dict:
    chosen = {**DEFAULTS, **(settings or {})}
    unknown = sorted(set(chosen) - set(DEFAULTS))
    if unknown:
        raise UserError(f"text detection setting {unknown[0]!r} is not known; known: {', '.join(DEFAULTS)}")
    for key, value in chosen.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise UserError(f"text detection setting {key}={value!r} is not allowed; give a number >= 0")
    if not 0 < chosen["match_iou"] <= 1:
        raise UserError(f"text detection setting match_iou={chosen['match_iou']!r} is not allowed; give a number "
                        "in (0, 1]")
    return chosen
