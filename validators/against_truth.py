"""An artifact's outputs against the ground truth: the metric its task and the truth's kind call for, and the record
of its accuracy and drop against the reference (pipeline.results.Accuracy)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.prepost import Letterbox, Processing, postprocess
from truth.samples import LabelledSet
from validators.accuracy import Scores, paired_drop


def score(outputs: list[np.ndarray], truth: LabelledSet, processing: dict, placement: list[Letterbox] | None,
          task_settings: dict) -> Scores:
    """Scores of the first len(truth) samples (the input set may repeat samples to fill its last batch).

    task_settings: validate.task (detection: the conf, NMS IoU and max_det mAP is computed at)."""
    n = len(truth)
    outputs = [np.asarray(o)[:n] for o in outputs]
    placement = placement[:n] if placement else None
    proc = Processing.from_config(processing)
    if truth.kind == "classes":
        from validators.accuracy import classification_scores

        return classification_scores(outputs[0], np.array([s.label for s in truth.samples]))
    if truth.kind == "boxes" and proc.task == "segmentation":  # a text detector's probability map
        from validators.text_detection import text_detection_scores

        settings = {"threshold": proc.threshold, **((processing.get("postprocess") or {}).get("text_boxes") or {})}
        return text_detection_scores(outputs[0], truth, settings)
    if truth.kind == "boxes":
        from validators.accuracy import detection_scores

        proc = replace(proc, conf=float(task_settings.get("conf", 0.001)), iou=float(task_settings.get("iou", 0.7)),
                       max_det=int(task_settings.get("max_det", 300)))
        found = postprocess(outputs, proc, placement)
        return detection_scores(found["boxes"], found["scores"], found["classes"], truth)
    if truth.kind == "masks":
        from validators.accuracy import segmentation_scores

        return segmentation_scores(postprocess(outputs, proc, placement)["masks"], truth)
    raise ValueError(f"no metric scores {truth.kind} truth for a {proc.task} model")


def accuracy_entry(artifact: str, reference: str, reference_scores: Scores, scores: Scores, seed: int = 0) -> dict:
    """The fields of pipeline.results.Accuracy: the value, and the drop against the reference with its interval."""
    drop = paired_drop(reference_scores, scores, seed=seed, resamples=scores.extras.get("resamples", 1000))
    extras = {k: v for k, v in scores.extras.items() if isinstance(v, int | float | str | bool) and k != "resamples"}
    return {"artifact": artifact, "metric": scores.metric, "value": scores.value,
            "higher_is_better": scores.higher_is_better, "samples": scores.count, "reference": reference,
            "reference_value": reference_scores.value, "drop": drop.value, "low": drop.low, "high": drop.high,
            "confidence": drop.confidence, "resamples": drop.resamples, "distinguishable": drop.distinguishable,
            **extras}


def describe_accuracy(entry) -> str:
    """'Hmean (IoU 0.5) 0.982 against the truth (32 samples); drop vs model 0.004 [95% CI -0.002, 0.011]'."""
    line = f"{entry.metric} {entry.value:.3f} against the truth ({entry.samples} samples)"
    if entry.artifact == entry.reference:
        return line + " (the reference)"
    verdict = "distinguishable from 0" if entry.distinguishable else "not distinguishable from 0"
    return (f"{line}; drop vs {entry.reference} {entry.drop:+.3f} [{entry.confidence:.0%} CI {entry.low:+.3f}, "
            f"{entry.high:+.3f}]: {verdict}")
