"""Segmentation: a class per pixel (argmax, or a one-channel map above its threshold), mapped back to the
photo's size; agreement as pixel agreement and mean IoU with intersection and union summed over the images."""
from __future__ import annotations

import numpy as np
import pytest

from core.masks import class_maps, class_pixels, to_original
from core.prepost import Processing, postprocess, preprocess_with_meta
from validators.task_metrics import segmentation_agreement, task_agreement


def test_class_maps_argmax_and_threshold():
    scores = np.zeros((1, 3, 2, 2), np.float32)
    scores[0, 2, 0, 0] = scores[0, 1, 1, 1] = 5.0
    assert class_maps(scores).tolist() == [[[2, 0], [0, 1]]]
    probability = np.array([[[[0.2, 0.31], [0.3, 0.9]]]], np.float32)
    assert class_maps(probability, threshold=0.3).tolist() == [[[0, 1], [0, 1]]]
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        class_maps(np.zeros((2, 3)))


def test_maps_go_back_to_the_photo_size_nearest():
    classes = np.array([[0, 1], [2, 3]])
    assert to_original(classes, 4, 6).tolist() == [[0, 0, 0, 1, 1, 1]] * 2 + [[2, 2, 2, 3, 3, 3]] * 2
    assert class_pixels(to_original(classes, 4, 6)) == {0: 6, 1: 6, 2: 6, 3: 6}


def test_non_square_resize_and_postprocess_at_the_original_size():
    photo = np.random.default_rng(0).integers(0, 255, (90, 160, 3), dtype=np.uint8)
    proc = Processing(task="segmentation", size=(36, 48))
    batch, meta = preprocess_with_meta([photo], proc)
    assert batch.shape == (1, 3, 36, 48) and (meta[0].height, meta[0].width) == (90, 160)
    scores = np.random.default_rng(1).standard_normal((1, 5, 36, 48)).astype(np.float32)
    masks = postprocess([scores], proc, meta)["masks"]
    assert masks[0].shape == (90, 160) and set(np.unique(masks[0])) <= set(range(5))
    assert postprocess([scores], proc)["masks"][0].shape == (36, 48)  # no meta: at the model's resolution


def test_agreement_sums_over_images_and_averages_over_classes():
    ref = [np.array([[0, 0], [1, 1]]), np.array([[2, 2], [2, 2]])]
    same = segmentation_agreement(ref, [r.copy() for r in ref])
    assert same["mean_iou"] == 1.0 and same["pixel_agreement"] == 1.0 and same["classes"] == 3
    cand = [np.array([[0, 1], [1, 1]]), ref[1].copy()]  # one pixel of class 0 called 1
    result = segmentation_agreement(ref, cand)
    # class 0: 1/2; class 1: 2/3; class 2: 4/4 -> mean 13/18; 7 of 8 pixels agree
    assert result["mean_iou"] == pytest.approx((0.5 + 2 / 3 + 1.0) / 3)
    assert result["pixel_agreement"] == pytest.approx(7 / 8)


def test_one_channel_maps_are_judged_by_foreground_iou_summed_over_images():
    # image 1 has almost no text: its one wrong pixel must not swing the figure
    ref = [np.zeros((10, 10), int), np.zeros((10, 10), int)]
    ref[0][0, 0] = 1
    ref[1][:5] = 1
    cand = [np.zeros((10, 10), int), ref[1].copy()]
    result = segmentation_agreement(ref, cand)
    assert result["foreground_only"] and result["mean_iou"] == pytest.approx(50 / 51)
    assert result["worst_image"] == 0.0


def test_task_agreement_fails_below_the_floor():
    proc = {"task": "segmentation", "size": [8, 8]}
    ref = np.random.default_rng(2).standard_normal((2, 4, 8, 8)).astype(np.float32)
    cand = ref.copy()
    cand[:, 0] += 10.0  # every pixel now class 0
    good = task_agreement([ref], [ref.copy()], proc, {"min_agreement": {"segmentation": {"fp32": 0.9}}}, "fp32")
    bad = task_agreement([ref], [cand], proc, {"min_agreement": {"segmentation": {"fp32": 0.9}}}, "fp32")
    assert good["task"] == "segmentation" and good["agreement"] == 1.0 and good["passed"]
    assert bad["agreement"] < 0.5 and not bad["passed"]
