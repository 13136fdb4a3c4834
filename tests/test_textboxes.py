"""core.textboxes: a DBNet probability map -> text boxes, as RapidOCR's postprocess makes them (axis-aligned), on
maps whose right answer is worked out by hand, and its connected regions against scipy's labelling."""
from __future__ import annotations

import numpy as np
import pytest

from core.textboxes import regions, text_boxes


def _map(height=100, width=200) -> np.ndarray:
    return np.zeros((height, width), np.float32)


def test_two_blobs_make_two_boxes_grown_by_the_unclip_distance():
    prob = _map()
    prob[10:20, 20:60] = 0.9  # rows 10..19, columns 20..59
    prob[50:70, 100:180] = 0.8
    boxes, scores = text_boxes(prob)
    # After RapidOCR's 2x2 dilation the first region spans columns 20..60 and rows 10..20: a box 40 x 10 in pixel
    # centres, grown on every side by 40 * 10 * 1.6 / (2 * (40 + 10)) = 6.4.
    assert boxes.dtype == np.float32 and boxes.shape == (2, 4)
    np.testing.assert_allclose(boxes[0], [20 - 6.4, 10 - 6.4, 60 + 6.4, 20 + 6.4], atol=1e-4)
    grow = 80 * 20 * 1.6 / (2 * (80 + 20))
    np.testing.assert_allclose(boxes[1], [100 - grow, 50 - grow, 180 + grow, 70 + grow], atol=1e-4)
    # the score: the mean probability over the dilated region's box (its added row and column are 0 here)
    np.testing.assert_allclose(scores, [0.9 * 400 / 451, 0.8 * 1600 / 1701], rtol=1e-5)


def test_without_unclip_a_box_is_the_regions_pixel_edges():
    prob = _map()
    prob[10:20, 20:60] = 0.9
    boxes, _ = text_boxes(prob, unclip_ratio=0)
    np.testing.assert_array_equal(boxes, [[20, 10, 60, 20]])
    boxes, _ = text_boxes(prob, unclip_ratio=0, dilate=False)  # pixel centres: one pixel less each way
    np.testing.assert_array_equal(boxes, [[20, 10, 59, 19]])


def test_a_faint_blob_and_a_thin_one_are_dropped():
    prob = _map()
    prob[10:20, 20:60] = 0.45  # above the threshold, its mean below box_threshold
    prob[40:42, 20:120] = 0.95  # 2 rows (3 after dilation): its short side, 2 in pixel centres, is under min_size
    prob[60:70, 20:60] = 0.9
    boxes, scores = text_boxes(prob)
    assert len(boxes) == 1 and boxes[0][1] < 60 < boxes[0][3]
    assert len(text_boxes(prob, box_threshold=0.3)[0]) == 2  # the faint one counts at a lower box threshold
    assert len(text_boxes(prob, threshold=0.5)[0]) == 1  # below the threshold: not text at all


def test_boxes_are_clipped_to_the_map_and_ordered_top_to_bottom():
    prob = _map()
    prob[0:30, 150:200] = 0.9
    prob[40:50, 0:50] = 0.9
    boxes, _ = text_boxes(prob)
    assert boxes[0][0] > 100 and boxes[0][1] == 0 and boxes[0][2] == 200  # top right, clipped
    assert boxes[1][0] == 0 and boxes[1][1] > 30


def test_an_empty_map_has_no_boxes():
    boxes, scores = text_boxes(_map())
    assert boxes.shape == (0, 4) and scores.shape == (0,)
    with pytest.raises(ValueError, match=r"a probability map is \[H, W\]; got shape \(1, 100, 200\)"):
        text_boxes(_map()[None])


def test_diagonal_neighbours_are_one_region():
    mask = np.zeros((6, 6), bool)
    mask[1, 1] = mask[2, 2] = mask[3, 3] = True
    mask[1, 4] = True
    x0, y0, x1, y1 = regions(mask)
    assert list(zip(x0, y0, x1, y1, strict=True)) == [(1, 1, 3, 3), (4, 1, 4, 1)]


@pytest.mark.parametrize("density", [0.05, 0.3, 0.55])
def test_regions_agree_with_scipy_on_random_masks(density):
    from scipy import ndimage

    rng = np.random.default_rng(int(density * 100))
    mask = rng.random((120, 170)) < density
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    expected = sorted((s[1].start, s[0].start, s[1].stop - 1, s[0].stop - 1) for s in ndimage.find_objects(labels))
    x0, y0, x1, y1 = regions(mask)
    assert len(x0) == count > 1
    assert sorted(zip(x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist(), strict=True)) == expected
