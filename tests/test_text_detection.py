"""validators.text_detection: maps -> boxes in each image's own pixels -> lines matched one-to-one at IoU 0.5, on
constructed maps and images whose counts are worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.errors import UserError
from truth.labelled_set import LabelledSet, Sample
from validators.accuracy import paired_drop
from validators.text_detection import image_boxes, image_size, line_counts, text_detection_scores

NO_UNCLIP = {"unclip_ratio": 0}  # boxes are the regions' pixel edges: coordinates worked out by hand


def _image(folder, name: str, width: int, height: int) -> str:
    path = folder / name
    Image.new("RGB", (width, height), "white").save(path)
    return str(path)


def test_boxes_are_scaled_from_the_map_to_the_image():
    prob = np.zeros((64, 64), np.float32)
    prob[10:20, 8:40] = 0.9  # after the dilation: columns 8..40, rows 10..20 -> edges [8, 10, 40, 20]
    boxes, scores = image_boxes(prob, (128, 256), NO_UNCLIP)  # the image is 256 wide, 128 high: x 4, y 2
    np.testing.assert_allclose(boxes, [[32, 20, 160, 40]])
    assert scores.shape == (1,)


def test_counts_match_one_to_one_at_iou_half():
    truth = [[0, 0, 10, 10], [20, 0, 30, 10], [50, 50, 60, 60]]
    found = np.array([[0, 0, 10, 10], [1, 0, 10, 10], [20, 0, 26, 10], [80, 80, 90, 90]], np.float32)
    scores = np.array([0.9, 0.95, 0.8, 0.7], np.float32)
    # the best-scored box takes the first line (IoU 0.9); its duplicate finds it taken; IoU 0.6 matches the second
    assert line_counts(found, scores, truth, 0.5) == (2, 4, 3)
    assert line_counts(found, scores, truth, 0.65) == (1, 4, 3)  # 0.6 no longer enough
    assert line_counts(found[:0], scores[:0], truth, 0.5) == (0, 0, 3)
    assert line_counts(found, scores, [], 0.5) == (0, 4, 0)


def test_hmean_pools_counts_over_the_chosen_samples(tmp_path):
    images = [_image(tmp_path, f"{i}.png", 128, 64) for i in range(3)]
    maps = np.zeros((3, 1, 64, 64), np.float32)
    maps[0, 0, 10:20, 8:40] = 0.9  # found: [16, 10, 80, 20] in the image (x 2)
    maps[1, 0, 10:20, 8:40] = 0.9
    maps[1, 0, 40:50, 8:40] = 0.9  # a second box where image 1 has no line: a false positive
    truth = LabelledSet("boxes", "constructed", (
        Sample(images[0], boxes=((16, 10, 80, 20),), box_labels=(0,)),
        Sample(images[1], boxes=((16, 10, 80, 20),), box_labels=(0,)),
        Sample(images[2], boxes=((16, 10, 80, 20), (16, 40, 80, 50)), box_labels=(0, 0)),  # both missed
    ), ("text",))
    scores = text_detection_scores(maps, truth, NO_UNCLIP)
    assert scores.metric == "Hmean (IoU 0.5)" and scores.higher_is_better and scores.count == 3
    assert {k: scores.extras[k] for k in ("matched", "predicted", "lines")} == {"matched": 2, "predicted": 3,
                                                                                 "lines": 4}
    assert scores.extras["precision"] == pytest.approx(2 / 3) and scores.extras["recall"] == pytest.approx(0.5)
    assert scores.value == pytest.approx(2 * 2 / (3 + 4))  # 2PR / (P + R)
    assert scores.value_of(np.array([0])) == 1.0 and scores.value_of(np.array([2])) == 0.0
    assert scores.value_of(np.array([1, 1])) == pytest.approx(2 * 2 / (4 + 2))
    perfect = maps.copy()
    perfect[1, 0, 40:50] = 0
    perfect[2, 0, 10:20, 8:40] = perfect[2, 0, 40:50, 8:40] = 0.9
    better = text_detection_scores(perfect, truth, NO_UNCLIP)
    assert better.value == 1.0
    assert paired_drop(better, scores).value == pytest.approx(1 - scores.value)


def test_turned_images_report_their_turned_size(tmp_path):
    path = _image(tmp_path, "page.png", 30, 20)
    assert image_size(path) == (20, 30) and image_size(f"{path}#rot90") == (30, 20)
    assert image_size(f"{path}#rot180") == (20, 30)


def test_bad_input_is_one_line(tmp_path):
    truth = LabelledSet("boxes", "constructed", (Sample(_image(tmp_path, "a.png", 8, 8), boxes=(),
                                                        box_labels=()),), ("text",))
    cases = [
        (lambda: text_detection_scores(np.zeros((2, 1, 8, 8)), truth),
         "text detection takes maps [N, 1, H, W] for the 1 samples; got shape [2, 1, 8, 8]"),
        (lambda: text_detection_scores(np.zeros((1, 1, 8, 8)), truth, {"thresh": 0.3}),
         "text detection setting 'thresh' is not known; known: threshold, box_threshold, unclip_ratio, min_size, "
         "match_iou"),
        (lambda: text_detection_scores(np.zeros((1, 1, 8, 8)), truth, {"match_iou": 0}),
         "text detection setting match_iou=0 is not allowed; give a number in (0, 1]"),
        (lambda: text_detection_scores(np.zeros((1, 1, 8, 8)), LabelledSet("classes", "x", ())),
         "text detection is judged on a set of kind 'boxes'; this one is 'classes'"),
    ]
    for call, line in cases:
        with pytest.raises(UserError) as error:
            call()
        assert str(error.value) == line
