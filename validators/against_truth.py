"""An artifact's outputs against the ground truth: the metric its task and the truth's kind call for, and the record
of its accuracy and drop against the reference (pipeline.results.Accuracy)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.prepost import Letterbox, Processing, postprocess
from truth.labelled_set import LabelledSet
from validators.accuracy import CONFIDENCE, Scores, accuracy_record, scores_record


def score(outputs: list[np.ndarray], truth: LabelledSet, processing: dict, placement: list[Letterbox] | None,
          task_settings: dict) -> Scores:
    """Scores of the first len(truth) samples (the input set may repeat samples to fill its last batch).

    task_settings: validate.task (detection: the conf, NMS IoU and max_det mAP is computed at)."""
    n = len(truth)
    outputs = [np.asarray(o)[:n] for o in outputs]
    placement = placement[:n] if placement else None
    proc = Processing.from_config(processing)
    if truth.kind == "classes":
        from validators.classification_accuracy import classification_scores

        return classification_scores(truth, outputs[0])
    if truth.kind == "boxes" and proc.task == "segmentation":  # a text detector's probability map
        from validators.text_detection import text_detection_scores

        settings = {"threshold": proc.threshold, **((processing.get("postprocess") or {}).get("text_boxes") or {})}
        return text_detection_scores(outputs[0], truth, settings)
    if truth.kind == "boxes":
        from validators.detection_map import detection_scores

        proc = replace(proc, conf=float(task_settings.get("conf", 0.001)), iou=float(task_settings.get("iou", 0.7)),
                       max_det=int(task_settings.get("max_det", 300)))
        found = postprocess(outputs, proc, placement)
        return detection_scores(truth, found["boxes"], found["scores"], found["classes"])
    if truth.kind == "masks":
        from validators.segmentation_miou import segmentation_scores

        return segmentation_scores(truth, postprocess(outputs, proc, placement)["masks"])
    if truth.kind == "texts" and proc.task == "sequence":  # a recognizer: the strings it decodes
        from validators.text_accuracy import text_scores

        if not (proc.decode and proc.symbols):
            raise ValueError("a sequence model is judged against strings when it decodes them: give "
                             "model.postprocess.decode=ctc and model.vocabulary")
        return text_scores(truth, postprocess(outputs, proc)["texts"])
    raise ValueError(f"no metric scores {truth.kind} truth for a {proc.task} model")


def accuracy_entry(artifact: str, reference: str, reference_scores: Scores, scores: Scores, seed: int = 0) -> dict:
    """The fields of pipeline.results.Accuracy: the value, and the drop against the reference with its interval
    (the reference's own entry: drop 0)."""
    if scores is reference_scores:  # no bootstrap needed to know the reference's drop against itself
        record = {**scores_record(scores), "reference_value": scores.value, "drop": 0.0, "interval": [0.0, 0.0],
                  "confidence": CONFIDENCE, "resamples": 0, "distinguishable": False}
    else:
        record = accuracy_record(reference_scores, scores, seed=seed)
    extras = {k: v for k, v in (record.pop("extras", None) or {}).items() if isinstance(v, int | float | str | bool)}
    low, high = record.pop("interval")
    return {**extras, **record, "artifact": artifact, "reference": reference, "low": low, "high": high}


def describe_accuracy(entry) -> str:
    """'Hmean (IoU 0.5) 0.982 against the truth (32 samples); drop vs model 0.004 [95% CI -0.002, 0.011]'."""
    line = f"{entry.metric} {entry.value:.3f} against the truth ({entry.samples} samples)"
    if entry.artifact == entry.reference:
        return line + " (the reference)"
    verdict = "distinguishable from 0" if entry.distinguishable else "not distinguishable from 0"
    return (f"{line}; drop vs {entry.reference} {entry.drop:+.3f} [{entry.confidence:.0%} CI {entry.low:+.3f}, "
            f"{entry.high:+.3f}]: {verdict}")
