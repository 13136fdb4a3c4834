"""Task-level parity: does the candidate still find the same objects / classes as the reference?

Both sides go through the same numpy postprocess (core.prepost) as deployment does, on every image of the
input set. Detection: matched-box agreement (same class, IoU >= match_iou, greedy one-to-one by score),
reported as precision / recall / F1 of the candidate's boxes against the reference's. Classification: top-1
agreement and top-5 overlap. Segmentation: mean IoU of the per-pixel classes and pixel agreement. Sequence:
the strings read (validators/sequence_agreement.py).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.boxes import box_iou
from core.prepost import Processing, postprocess, top_k
from validators.sequence_agreement import describe_sequence, sequence_agreement

# Parity runs detection at a low threshold so that randomly initialised weights still yield boxes to compare.
DEFAULTS = {"conf": 0.001, "iou": 0.7, "max_det": 300, "match_iou": 0.5, "top_k": 5}


def match_count(ref_boxes: np.ndarray, ref_classes: np.ndarray, cand_boxes: np.ndarray,
                cand_classes: np.ndarray, cand_scores: np.ndarray, match_iou: float = 0.5) -> int:
    """Greedy one-to-one matching: candidates best score first, each takes the unmatched reference box of its
    class with the highest IoU, if that IoU >= match_iou. Returns the number of matched pairs."""
    free = np.ones(len(ref_boxes), bool)
    matched = 0
    for i in np.argsort(-cand_scores, kind="stable"):
        options = np.flatnonzero(free & (ref_classes == cand_classes[i]))
        if options.size == 0:
            continue
        overlap = box_iou(cand_boxes[i], ref_boxes[options])
        best = int(np.argmax(overlap))
        if overlap[best] >= match_iou:
            free[options[best]] = False
            matched += 1
    return matched


def precision_recall_f1(matched: int, n_cand: int, n_ref: int) -> tuple[float, float, float]:
    """Candidate boxes that match a reference box (precision), reference boxes found again (recall).
    Two empty sets agree perfectly."""
    precision = matched / n_cand if n_cand else float(n_ref == 0)
    recall = matched / n_ref if n_ref else float(n_cand == 0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def detection_agreement(ref: dict, cand: dict, match_iou: float = 0.5) -> dict:
    """ref, cand: postprocess() results (lists of per-image boxes, scores, classes). Counts pooled over images."""
    matched = n_ref = n_cand = 0
    per_image_f1 = []
    for rb, rc, cb, cc, cs in zip(ref["boxes"], ref["classes"], cand["boxes"], cand["classes"], cand["scores"],
                                  strict=True):
        m = match_count(rb, rc, cb, cc, cs, match_iou)
        per_image_f1.append(precision_recall_f1(m, len(cb), len(rb))[2])
        matched, n_ref, n_cand = matched + m, n_ref + len(rb), n_cand + len(cb)
    precision, recall, f1 = precision_recall_f1(matched, n_cand, n_ref)
    return {"precision": precision, "recall": recall, "f1": f1, "matched": matched, "reference_boxes": n_ref,
            "candidate_boxes": n_cand, "worst_image_f1": min(per_image_f1, default=1.0)}


def classification_agreement(ref_logits: np.ndarray, cand_logits: np.ndarray, k: int = 5) -> dict:
    """top-1 agreement: share of images whose best class is the same; top-k overlap: mean share of the
    reference's k best classes that are among the candidate's k best."""
    ref_idx, _ = top_k(ref_logits, k)
    cand_idx, _ = top_k(cand_logits, k)
    k = ref_idx.shape[1]
    overlap = [len(set(r) & set(c)) / k for r, c in zip(ref_idx.tolist(), cand_idx.tolist(), strict=True)]
    return {"top1": float(np.mean(ref_idx[:, 0] == cand_idx[:, 0])), f"top{k}_overlap": float(np.mean(overlap))}


def segmentation_agreement(ref_maps: list[np.ndarray], cand_maps: list[np.ndarray]) -> dict:
    """Per-pixel classes against the reference's: pixel agreement, and IoU per class with intersection and union
    summed over all images (a photo with almost none of a class cannot swing it), averaged over the classes either
    side found. A one-channel map (foreground above a threshold) is judged by its foreground IoU alone."""
    ref, cand = np.stack(ref_maps), np.stack(cand_maps)
    classes = np.union1d(np.unique(ref), np.unique(cand))
    binary = set(classes.tolist()) <= {0, 1}
    ious, per_image = {}, []
    for cls in classes:
        r, c = ref == cls, cand == cls
        union = np.logical_or(r, c).sum()
        ious[int(cls)] = float(np.logical_and(r, c).sum() / union) if union else 1.0
    for r, c in zip(ref, cand, strict=True):
        union = np.logical_or(r != 0, c != 0).sum() if binary else r.size
        inter = np.logical_and(r != 0, c != 0).sum() if binary else (r == c).sum()
        per_image.append(float(inter / union) if union else 1.0)
    mean_iou = ious.get(1, 1.0) if binary else float(np.mean(list(ious.values())))
    return {"mean_iou": mean_iou, "pixel_agreement": float((ref == cand).mean()), "classes": len(classes),
            "foreground_only": binary, "worst_image": min(per_image, default=1.0)}


def task_agreement(ref_outputs: list[np.ndarray], cand_outputs: list[np.ndarray], processing: dict,
                   settings: dict | None = None, precision: str = "fp32") -> dict | None:
    """The `task` entry of a parity report, or None when the task has no metric or the outputs cannot compare
    (tensor parity already fails a shape mismatch).

    processing: the run's processing config (as for Processing.from_config); settings: validate.task (conf, iou,
    max_det, match_iou, top_k, min_agreement per task and precision), defaults in DEFAULTS. `agreement` is the
    headline number (detection F1, classification top-1, segmentation mean IoU, sequence: the share of decoded
    strings that are the reference's, or of steps without a decoder); `passed` is False when it is below
    min_agreement[task][precision].
    """
    settings = {**DEFAULTS, **(settings or {})}
    proc = Processing.from_config(processing)
    if len(ref_outputs) != len(cand_outputs) or ref_outputs[0].shape != cand_outputs[0].shape:
        return None
    if proc.task == "detection":
        proc = replace(proc, conf=float(settings["conf"]), iou=float(settings["iou"]),
                       max_det=int(settings["max_det"]))
        match_iou = float(settings["match_iou"])
        result = detection_agreement(postprocess(ref_outputs, proc), postprocess(cand_outputs, proc), match_iou)
        result = {"task": "detection", "agreement": result["f1"], **result, "conf": proc.conf,
                  "max_det": proc.max_det, "match_iou": match_iou}
    elif proc.task == "classification":
        result = classification_agreement(ref_outputs[0], cand_outputs[0], int(settings["top_k"]))
        result = {"task": "classification", "agreement": result["top1"], **result}
    elif proc.task == "segmentation":
        result = segmentation_agreement(postprocess(ref_outputs, proc)["masks"],
                                        postprocess(cand_outputs, proc)["masks"])
        result = {"task": "segmentation", "agreement": result["mean_iou"], **result, "threshold": proc.threshold}
    elif proc.task == "sequence":
        result = sequence_agreement(ref_outputs[0], cand_outputs[0], proc)
    else:
        return None
    minimum = floor(settings, result["task"], precision)
    result["min_agreement"] = minimum
    result["passed"] = minimum is None or result["agreement"] >= minimum
    return result


def floor(settings: dict, task: str, precision: str) -> float | None:
    """validate.task.min_agreement for a task at a precision (None: reported only)."""
    return ((settings.get("min_agreement") or {}).get(task) or {}).get(precision)


def describe(task: dict) -> str:
    """One line for logs: 'detection F1 0.993 (P 0.990, R 0.997)' or 'top-1 100.0%, top-5 overlap 98.0%'."""
    if task["task"] == "detection":
        return f"detection F1 {task['f1']:.3f} (P {task['precision']:.3f}, R {task['recall']:.3f})"
    if task["task"] == "segmentation":
        return f"mean IoU {task['mean_iou']:.3f}, pixel agreement {task['pixel_agreement']:.1%}"
    if task["task"] == "sequence":
        return describe_sequence(task)
    overlap = next(k for k in task if k.endswith("_overlap"))
    return f"top-1 {task['top1']:.1%}, {overlap.replace('_', ' ')} {task[overlap]:.1%}"
