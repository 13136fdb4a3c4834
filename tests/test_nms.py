"""Detection postprocess: greedy class-aware NMS and the raw-head decoding, on hand-checked boxes."""
import numpy as np
import pytest

from core.boxes import nms
from core.prepost import Letterbox, Processing, postprocess

# IoU(A, B) = 81 / 119 = 0.68; IoU(A, C) = 90 / 100 = 0.9; D sits on A but is another class; E is far away.
BOXES = np.array([[0, 0, 10, 10],    # A
                  [1, 1, 11, 11],    # B
                  [0, 0, 10, 9],     # C
                  [0, 0, 10, 10],    # D
                  [50, 50, 60, 60]],  # E
                 np.float32)
SCORES = np.array([0.9, 0.8, 0.7, 0.95, 0.3], np.float32)
CLASSES = np.array([0, 0, 0, 1, 0])
A, B, C, D, E = range(5)


@pytest.mark.parametrize("iou,max_det,expected", [
    (0.7, 300, [D, A, B, E]),  # C overlaps A by 0.9: suppressed; B (0.68) survives; D is another class
    (0.5, 300, [D, A, E]),     # now B (0.68 > 0.5) goes too
    (0.7, 2, [D, A]),          # best first, cut at max_det
    (0.95, 300, [D, A, B, C, E]),
])
def test_nms_hand_checked(iou, max_det, expected):
    assert nms(BOXES, SCORES, CLASSES, iou, max_det).tolist() == expected


def test_nms_of_nothing():
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int), 0.7, 300).tolist() == []


def _raw_head(boxes_xyxy, scores, classes, num_classes=3):
    """The [1, 4 + classes, anchors] tensor a YOLOv8 head emits for these boxes (centre x, y, w, h)."""
    xyxy = np.asarray(boxes_xyxy, np.float32)
    xywh = np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    cls = np.full((len(xyxy), num_classes), 0.0001, np.float32)
    cls[np.arange(len(xyxy)), classes] = scores
    return np.concatenate([xywh, cls], axis=1).T[None]


def test_postprocess_filters_suppresses_and_maps_back():
    raw = _raw_head(BOXES, SCORES, CLASSES)
    proc = Processing(task="detection", size=64, conf=0.5, iou=0.7)
    found = postprocess([raw], proc)
    np.testing.assert_allclose(found["boxes"][0], BOXES[[D, A, B]])  # E (0.3) is under conf 0.5
    np.testing.assert_allclose(found["scores"][0], SCORES[[D, A, B]])
    assert found["classes"][0].tolist() == [1, 0, 0]
    # With the letterbox placement the boxes come back in original-image pixels (scale 0.5, 8 px top border).
    meta = [Letterbox(height=96, width=128, scale_x=0.5, scale_y=0.5, left=0, top=8)]
    mapped = postprocess([raw], proc, meta)["boxes"][0]
    np.testing.assert_allclose(mapped[1], [0, 0, 20, 4])  # A: y (0 - 8) / 0.5 = -16 clips to the image
    np.testing.assert_allclose(mapped[2], [2, 0, 22, 6])  # B: y1 clipped, y2 (11 - 8) / 0.5 = 6


def test_postprocess_per_image_in_a_batch():
    raw = np.concatenate([_raw_head(BOXES, SCORES, CLASSES), _raw_head(BOXES[:1], [0.1], [2])
                          .repeat(5, axis=2)], axis=0)
    found = postprocess([raw], Processing(task="detection", size=64, conf=0.25, iou=0.7))
    assert [len(b) for b in found["boxes"]] == [4, 0]
