"""COCO mAP of a detector against the truth's boxes, with faster-coco-eval (the pycocotools algorithm in C++).

mAP50-95 (AP averaged over IoU 0.50:0.05:0.95, all areas, at most 100 detections per image) is the metric;
mAP50 is in the extras. `coco_map` evaluates any list of sample indices as its own COCO set: an image that comes
twice is two images with ids of their own. A bootstrap needs that a thousand times per artifact, so
`detection_scores` matches every image once (faster-coco-eval's per-image evaluation, `separate_eval`) and a
resample only re-accumulates those per-image matches in its own order: the result is the same (the matching of
one image never depends on another), at a fraction of the cost.
"""
from __future__ import annotations

import numpy as np
from faster_coco_eval import COCO, COCOeval_faster
from faster_coco_eval.faster_eval_api_cpp import COCOevalAccumulate

from truth.labelled_set import LabelledSet
from validators.accuracy import RESAMPLES, Scores

MAX_DETECTIONS = 100
# A resample re-accumulates one per-image match for each (image, class): its cost grows with their number. Past
# this many, the bootstrap takes proportionally fewer resamples than RESAMPLES (never fewer than
# FEWEST_RESAMPLES), so that an 80-class set of a few hundred images still gets its interval in seconds.
ACCUMULATE_BUDGET = 2_000
FEWEST_RESAMPLES = 200


def detection_scores(truth: LabelledSet, boxes: list[np.ndarray], scores: list[np.ndarray],
                     classes: list[np.ndarray]) -> Scores:
    """Per sample of `truth`, in its order: predicted boxes [n, 4] xyxy in the image's own pixels, their scores
    [n] and class indices [n] (what core.prepost.postprocess returns given the letterbox meta)."""
    evaluation = _evaluated(truth, boxes, scores, classes, np.arange(len(truth)))
    per_image = np.empty(len(evaluation._evalImgs_cpp), dtype=object)
    per_image[:] = evaluation._evalImgs_cpp
    per_image = per_image.reshape(len(evaluation.params.catIds), len(truth))  # [class][image], as accumulated
    params = evaluation._paramsEval

    def maps(indices: np.ndarray) -> tuple[float, float]:
        params.imgIds = list(range(len(indices)))
        return _maps(COCOevalAccumulate(params, per_image[:, indices].ravel().tolist()))

    everything = maps(np.arange(len(truth)))
    resamples = int(np.clip(RESAMPLES * ACCUMULATE_BUDGET // max(per_image.size, 1), FEWEST_RESAMPLES, RESAMPLES))
    return Scores("mAP50-95", True, len(truth), lambda indices: maps(np.asarray(indices))[0],
                  extras={"mAP50": everything[1], "max detections per image": MAX_DETECTIONS,
                          "bootstrap resamples for mAP": resamples},
                  resamples=resamples)


def coco_map(truth: LabelledSet, boxes: list[np.ndarray], scores: list[np.ndarray], classes: list[np.ndarray],
             indices: np.ndarray | None = None) -> tuple[float, float]:
    """(mAP50-95, mAP50) of the samples at `indices` (all by default; repeats allowed) as one COCO evaluation."""
    indices = np.arange(len(truth)) if indices is None else np.asarray(indices)
    evaluation = _evaluated(truth, boxes, scores, classes, indices)
    evaluation.accumulate()
    return _maps(evaluation.eval)


def _evaluated(truth: LabelledSet, boxes, scores, classes, indices: np.ndarray) -> COCOeval_faster:
    """The samples at `indices` as a COCO set (image id = position + 1, so a repeated sample is another image),
    matched image by image; accumulate() is left to the caller."""
    if not len(boxes) == len(scores) == len(classes) == len(truth):
        raise ValueError(f"predictions for {len(boxes)}, {len(scores)}, {len(classes)} images (boxes, scores, "
                         f"classes) against the truth's {len(truth)} samples")
    found = [np.asarray(c, np.int64) for c in classes]
    count = max([len(truth.classes), *(int(c.max(initial=-1)) + 1 for c in found),
                 *(max(s.box_labels, default=-1) + 1 for s in truth.samples)])
    images, annotations, results = [], [], []
    for position, i in enumerate(indices.tolist(), start=1):
        sample = truth.samples[i]
        images.append({"id": position})
        for (x1, y1, x2, y2), label in zip(sample.boxes, sample.box_labels, strict=True):
            annotations.append({"id": len(annotations) + 1, "image_id": position, "category_id": label,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
        box = np.asarray(boxes[i], np.float64).reshape(-1, 4)
        for (x1, y1, x2, y2), score, label in zip(box.tolist(), np.asarray(scores[i]).tolist(), found[i].tolist(),
                                                  strict=True):
            results.append({"image_id": position, "category_id": label, "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": score})
    categories = [{"id": c, "name": truth.classes[c] if c < len(truth.classes) else str(c)} for c in range(count)]
    quiet = lambda *_: None  # noqa: E731  (faster-coco-eval reports every stage through this)
    expected = COCO({"images": images, "annotations": annotations, "categories": categories}, print_function=quiet)
    evaluation = COCOeval_faster(expected, expected.loadRes(results), "bbox", print_function=quiet,
                                 separate_eval=True)
    evaluation.params.areaRng, evaluation.params.areaRngLbl = [[0, 1e10]], ["all"]
    evaluation.params.maxDets = [MAX_DETECTIONS]
    evaluation.evaluate()
    return evaluation


def _maps(accumulated: dict) -> tuple[float, float]:
    """(mAP50-95, mAP50) from accumulated precision [IoU, recall, class, area, max detections], as COCO's
    summary averages it: over the classes with a truth box (the others hold -1). NaN when none has."""
    precision = accumulated["precision"][:, :, :, 0, -1]
    at_50 = precision[0]
    return (float(precision[precision > -1].mean()) if (precision > -1).any() else float("nan"),
            float(at_50[at_50 > -1].mean()) if (at_50 > -1).any() else float("nan"))
