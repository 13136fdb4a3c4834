"""Task parity metrics on constructed cases: matched-box agreement for detectors, top-k for classifiers."""
import numpy as np
import pytest

from validators.task_metrics import classification_agreement, detection_agreement, task_agreement

REF_BOXES = np.array([[0, 0, 10, 10], [20, 20, 40, 40], [100, 50, 160, 90], [300, 300, 310, 330]], np.float32)
REF_CLASSES = np.array([0, 1, 1, 2])
REF_SCORES = np.array([0.9, 0.8, 0.7, 0.6], np.float32)


def _found(boxes, classes, scores):
    """A one-image postprocess result."""
    return {"boxes": [np.asarray(boxes, np.float32)], "classes": [np.asarray(classes)],
            "scores": [np.asarray(scores, np.float32)]}


REF = _found(REF_BOXES, REF_CLASSES, REF_SCORES)


def test_identical_boxes_agree_fully():
    result = detection_agreement(REF, REF)
    assert (result["precision"], result["recall"], result["f1"], result["matched"]) == (1.0, 1.0, 1.0, 4)


def test_boxes_shifted_beyond_iou_half_match_nothing():
    # Each box moved right by half its width: IoU = 0.5w / 1.5w = 1/3 < 0.5.
    shift = (REF_BOXES[:, 2] - REF_BOXES[:, 0]) / 2
    moved = REF_BOXES + np.stack([shift, 0 * shift, shift, 0 * shift], axis=1)
    result = detection_agreement(REF, _found(moved, REF_CLASSES, REF_SCORES))
    assert (result["matched"], result["f1"]) == (0, 0.0)


def test_small_shift_still_matches():
    # 1 px on a 10 px box: IoU = 9 / 11 = 0.82
    result = detection_agreement(REF, _found(REF_BOXES + [1, 0, 1, 0], REF_CLASSES, REF_SCORES))
    assert result["f1"] == 1.0


def test_one_missing_box_lowers_recall_exactly():
    result = detection_agreement(REF, _found(REF_BOXES[:3], REF_CLASSES[:3], REF_SCORES[:3]))
    assert result["precision"] == 1.0
    assert result["recall"] == 3 / 4
    assert result["f1"] == pytest.approx(2 * 1.0 * 0.75 / 1.75)  # 0.857
    extra = detection_agreement(_found(REF_BOXES[:3], REF_CLASSES[:3], REF_SCORES[:3]), REF)  # the other way
    assert (extra["precision"], extra["recall"]) == (3 / 4, 1.0)


def test_same_place_other_class_does_not_match():
    result = detection_agreement(REF, _found(REF_BOXES, (REF_CLASSES + 1) % 3, REF_SCORES))
    assert result["matched"] == 0


def test_matching_is_one_to_one():
    # Two candidates on the first reference box: only one of them may claim it.
    cand = _found(REF_BOXES[[0, 0]], REF_CLASSES[[0, 0]], [0.9, 0.5])
    result = detection_agreement(_found(REF_BOXES[:1], REF_CLASSES[:1], REF_SCORES[:1]), cand)
    assert (result["matched"], result["precision"], result["recall"]) == (1, 0.5, 1.0)


def test_counts_pool_over_images():
    two = {k: REF[k] * 2 for k in REF}
    cand = {k: [REF[k][0], REF[k][0][:2]] for k in REF}  # image 2 lost two of its four boxes
    result = detection_agreement(two, cand)
    assert (result["matched"], result["reference_boxes"], result["candidate_boxes"]) == (6, 8, 6)
    assert result["recall"] == 6 / 8 and result["worst_image_f1"] == pytest.approx(2 / 3)


def test_nothing_found_by_either_side_is_agreement():
    empty = _found(np.zeros((0, 4)), np.zeros(0, int), np.zeros(0))
    assert detection_agreement(empty, empty)["f1"] == 1.0
    assert detection_agreement(REF, empty)["f1"] == 0.0


def test_classifier_top_k_agreement():
    ref = np.array([[5.0, 4, 3, 2, 1, 0, -1], [0, 1, 2, 3, 4, 5, 6]])
    assert classification_agreement(ref, ref) == {"top1": 1.0, "top5_overlap": 1.0}
    swapped = ref[:, [1, 0, 2, 3, 4, 5, 6]]  # image 1: classes 0 and 1 trade places; image 2 unchanged
    assert classification_agreement(ref, swapped) == {"top1": 0.5, "top5_overlap": 1.0}
    reversed_ = -ref  # best becomes worst: top-5 of 7 share 3 classes
    assert classification_agreement(ref, reversed_) == {"top1": 0.0, "top5_overlap": 3 / 5}


def _raw(boxes_xyxy, classes, scores, num_classes=3):
    xywh = np.concatenate([(boxes_xyxy[:, :2] + boxes_xyxy[:, 2:]) / 2, boxes_xyxy[:, 2:] - boxes_xyxy[:, :2]], 1)
    cls = np.full((len(boxes_xyxy), num_classes), 1e-4, np.float32)
    cls[np.arange(len(boxes_xyxy)), classes] = scores
    return np.concatenate([xywh, cls], axis=1).T[None].astype(np.float32)


DETECTION = {"task": "detection", "size": 640, "mean": [0, 0, 0], "std": [1, 1, 1]}


def test_task_agreement_on_raw_head_outputs_can_fail():
    ref = _raw(REF_BOXES, REF_CLASSES, REF_SCORES)
    same = task_agreement([ref], [ref.copy()], DETECTION)
    assert same["task"] == "detection" and same["agreement"] == 1.0 and same["passed"]
    weaker = ref.copy()
    weaker[0, 4 + REF_CLASSES[3], 3] = 0.0005  # the last box falls under the parity threshold (0.001)
    result = task_agreement([ref], [weaker], DETECTION, {"min_agreement": {"detection": {"fp32": 0.9}}}, "fp32")
    assert result["recall"] == 3 / 4 and result["agreement"] == pytest.approx(6 / 7)
    assert result["passed"] is False and result["min_agreement"] == 0.9
    assert task_agreement([ref], [weaker], DETECTION, {"min_agreement": {"detection": {"fp32": 0.9}}}, "int8")["passed"]


def test_task_agreement_classification_and_raw():
    logits = np.array([[0.1, 2.0, 0.3]])
    result = task_agreement([logits], [logits[:, [1, 0, 2]]], {"task": "classification", "size": 32})
    assert result["task"] == "classification" and result["agreement"] == 0.0
    assert task_agreement([logits], [logits], {"task": "raw", "size": 32}) is None
