"""Accuracy against labels built from drawn shapes, checked against values worked out by hand; and the paired
bootstrap drop between a reference and a candidate."""
import json

import numpy as np
import pytest
from PIL import Image

from tests.shapes import CLASSES, MASK_CLASSES, draw_mask, draw_scenes, one_shape, scene
from truth.labelled_set import LabelledSet, Sample
from truth.labels import load_labels
from validators.accuracy import Scores, accuracy_record, paired_drop
from validators.classification_accuracy import classification_scores
from validators.detection_map import coco_map, detection_scores
from validators.segmentation_miou import segmentation_scores
from validators.text_accuracy import text_scores


def classes_truth(tmp_path, count=8):
    for i in range(count):
        one_shape(tmp_path / "set" / CLASSES[i % 2] / f"{i}.png", i % 2, i)
    return load_labels(str(tmp_path / "set"), "classes", classes=list(CLASSES))


def boxes_truth(tmp_path, count=6):
    pictures = draw_scenes(tmp_path / "images", count)
    data = {"images": [{"id": i, "file_name": f"images/{p.name}"} for i, p in enumerate(pictures)],
            "annotations": [{"id": 2 * i + cls + 1, "image_id": i, "category_id": cls,
                             "bbox": [x1, y1, x2 - x1, y2 - y1]} for i in range(count)
                            for cls, (x1, y1, x2, y2) in scene(i)],
            "categories": [{"id": 0, "name": "square"}, {"id": 1, "name": "disc"}]}
    (tmp_path / "instances.json").write_text(json.dumps(data))
    return load_labels(str(tmp_path / "instances.json"), "boxes", classes=list(CLASSES))


def predicted(truth, widen=0.0, keep=lambda i: True):
    """The truth's own boxes as predictions, each grown to the right by `widen` of its width; images where keep(i)
    is False get none."""
    boxes, scores, classes = [], [], []
    for i, sample in enumerate(truth.samples):
        box = np.array(sample.boxes if keep(i) else np.zeros((0, 4)), float).reshape(-1, 4)
        box[:, 2] += widen * (box[:, 2] - box[:, 0])
        boxes.append(box)
        scores.append(np.linspace(0.9, 0.5, len(box)))
        classes.append(np.array(sample.box_labels if keep(i) else [], np.int64))
    return {"boxes": boxes, "scores": scores, "classes": classes}


def test_top1_perfect_and_half_wrong_and_top5(tmp_path):
    truth = classes_truth(tmp_path)
    labels = np.array([s.label for s in truth.samples])
    right = np.eye(6)[labels]  # 6 model classes, 2 of them labelled
    assert classification_scores(truth, right).value == 1.0
    half = right.copy()
    half[::2] = np.roll(half[::2], 1, axis=1)  # every other sample's best class moved one along
    scored = classification_scores(truth, half)
    assert scored.value == 0.5 and scored.metric == "top-1 accuracy"
    assert scored.extras["top-5 accuracy"] == 1.0  # the moved ones keep the right class among their 5 best of 6
    assert classification_scores(truth, -right).extras["top-5 accuracy"] == 0.0  # right class last of 6
    assert scored.value_of(np.array([1, 1, 3])) == 1.0 and scored.value_of(np.array([0, 0, 1, 2])) == 0.25


def test_map_exact_boxes_is_one_and_shifted_boxes_keep_map50(tmp_path):
    truth = boxes_truth(tmp_path)
    exact = detection_scores(truth, **predicted(truth))
    assert (exact.value, exact.extras["mAP50"]) == (1.0, 1.0)
    # Each box 15 % wider: IoU = 1 / 1.15 = 0.87, above the thresholds 0.50 ... 0.85 (8 of 10) and below 0.90, 0.95.
    wider = detection_scores(truth, **predicted(truth, widen=0.15))
    assert wider.value == pytest.approx(0.8) and wider.extras["mAP50"] == 1.0
    # IoU = 1 / 1.6 = 0.625: thresholds 0.50, 0.55, 0.60 (3 of 10)
    assert detection_scores(truth, **predicted(truth, widen=0.6)).value == pytest.approx(0.3)


def test_map_of_half_the_images_found(tmp_path):
    # Every class found in half its images with precision 1: COCO's 101 recall points score 1 up to recall 0.5
    # and 0 beyond it, so AP = 51 / 101 at every IoU.
    truth = boxes_truth(tmp_path)
    half = detection_scores(truth, **predicted(truth, keep=lambda i: i % 2 == 0))
    assert half.value == pytest.approx(51 / 101) and half.extras["mAP50"] == pytest.approx(51 / 101)


def test_a_resample_with_repeated_images_is_its_own_coco_set(tmp_path):
    truth = boxes_truth(tmp_path)
    prediction = predicted(truth, widen=0.3, keep=lambda i: i != 2)
    prediction["scores"] = [np.array([0.3, 0.8])[: len(s)] * (1 + i / 10) for i, s in
                            enumerate(prediction["scores"])]
    scored = detection_scores(truth, **prediction)
    assert scored.value == coco_map(truth, **prediction)[0]
    rng = np.random.default_rng(0)
    for _ in range(5):
        indices = rng.integers(0, len(truth), len(truth))
        assert scored.value_of(indices) == pytest.approx(coco_map(truth, **prediction, indices=indices)[0], abs=1e-12)
    assert scored.value_of(np.array([2, 2, 2])) == 0.0  # an image whose boxes were all missed, three times


def mask_truth(tmp_path, masks):
    """Masks given as arrays (with plain pictures of their size)."""
    for i, mask in enumerate(masks):
        Image.new("RGB", mask.shape[::-1]).save(tmp_path / f"{i}.png")
        (tmp_path / "masks").mkdir(exist_ok=True)
        Image.fromarray(mask.astype(np.uint8)).save(tmp_path / "masks" / f"{i}.png")
    return load_labels(str(tmp_path / "masks"), "masks", list(MASK_CLASSES), str(tmp_path))


def test_miou_by_hand(tmp_path):
    left = np.zeros((10, 10), int)
    left[:, :5] = 1  # class 1 on the left half, background on the right
    ignored = left.copy()
    ignored[:, 9] = 255
    truth = mask_truth(tmp_path, [left, ignored])
    all_one = [np.ones((10, 10), int)] * 2
    scored = segmentation_scores(truth, all_one)
    # image 0: class 1 IoU 50/100, class 0 IoU 0/50; image 1 (column 9 ignored): 50/90 and 0/40.
    # summed: class 1 100/190, class 0 0/90 -> mean (100/190 + 0) / 2
    assert scored.value == pytest.approx(100 / 190 / 2)
    assert scored.value_of(np.array([0])) == pytest.approx(0.25)
    assert scored.value_of(np.array([0, 0])) == pytest.approx(0.25)  # a repeat sums the same fractions
    assert scored.extras["pixel accuracy"] == pytest.approx(100 / 190)
    assert segmentation_scores(truth, [left, left]).value == 1.0  # column 9's prediction is not scored


def test_miou_of_drawn_shapes(tmp_path):
    pictures = draw_scenes(tmp_path / "images", 3)
    for i, picture in enumerate(pictures):
        draw_mask(tmp_path / "masks" / picture.name, scene(i), ignore=(0, 0, 95, 2))
    truth = load_labels(str(tmp_path / "masks"), "masks", list(MASK_CLASSES), str(tmp_path / "images"))
    masks = [np.asarray(Image.open(s.mask)).astype(int) for s in truth.samples]
    assert segmentation_scores(truth, masks).value == 1.0
    no_disc = [np.where(m == 2, 0, m) for m in masks]  # the discs taken for background
    discs = sum((m == 2).sum() for m in masks)
    background = sum((m == 0).sum() for m in masks)
    assert segmentation_scores(truth, no_disc).value == pytest.approx((1 + 0 + background / (background + discs)) / 3)


def texts_truth(tmp_path, texts):
    for i in range(len(texts)):
        one_shape(tmp_path / f"{i}.png", 0, i)
    (tmp_path / "texts.csv").write_text("".join(f"{i}.png,{t}\n" for i, t in enumerate(texts)))
    return load_labels(str(tmp_path / "texts.csv"), "texts")


def test_character_and_word_accuracy_of_known_edits(tmp_path):
    truth = texts_truth(tmp_path, ["hello world", "abc", "same"])
    scored = text_scores(truth, ["helo world", "abd", "same"])
    # characters: 1 deletion of 11, 1 substitution of 3, 0 of 4 -> CER 2 / 18
    assert scored.value == pytest.approx(1 - 2 / 18) and scored.extras["CER"] == pytest.approx(2 / 18)
    # words: 1 of 2, 1 of 1, 0 of 1 -> WER 2 / 4
    assert scored.extras["word accuracy"] == pytest.approx(0.5) and scored.extras["exact match"] == pytest.approx(1 / 3)
    assert scored.value_of(np.array([1, 1])) == pytest.approx(2 / 3)
    assert text_scores(truth, ["hello world", "abc", "same"]).value == 1.0


def test_identical_candidate_drops_nothing(tmp_path):
    truth = classes_truth(tmp_path, 40)
    logits = np.random.default_rng(0).normal(size=(40, 2))
    drop = paired_drop(classification_scores(truth, logits), classification_scores(truth, logits.copy()))
    assert (drop.value, drop.low, drop.high, drop.distinguishable) == (0.0, 0.0, 0.0, False)


def coin_scores(rng, wrong: float, n: int) -> tuple[Scores, Scores]:
    """A reference right on every sample; a candidate wrong on each with probability `wrong`."""
    candidate = rng.random(n) >= wrong
    return (Scores("top-1 accuracy", True, n, lambda i: 1.0),
            Scores("top-1 accuracy", True, n, lambda i: float(candidate[i].mean())))


def test_a_worse_candidate_is_distinguishable_and_its_interval_covers_the_true_drop():
    # 100 sets of 200 samples, the candidate wrong with probability 0.2 (true drop 0.2): a 95 % interval should
    # cover 0.2 on about 95 of them (a percentile bootstrap on 200 samples covers a little less), and not on all
    # (that would be an interval too wide); every one shows a drop.
    rng = np.random.default_rng(1)
    drops = [paired_drop(*coin_scores(rng, 0.2, 200), resamples=400, seed=k) for k in range(100)]
    assert all(d.distinguishable and d.low > 0.05 for d in drops)
    covered = sum(d.low <= 0.2 <= d.high for d in drops)
    assert 88 <= covered <= 99


def test_record_of_a_worse_detector(tmp_path):
    truth = boxes_truth(tmp_path, count=30)
    reference = detection_scores(truth, **predicted(truth))
    candidate = detection_scores(truth, **predicted(truth, widen=0.6))  # 1.0 -> 0.3
    record = accuracy_record(reference, candidate)
    assert record["metric"] == "mAP50-95" and record["reference_value"] == 1.0
    assert record["value"] == pytest.approx(0.3) and record["drop"] == pytest.approx(0.7)
    assert record["distinguishable"] and record["interval"][0] <= 0.7 <= record["interval"][1]
    assert record["resamples"] == reference.resamples == candidate.extras["bootstrap resamples for mAP"]
    assert record["extras"]["mAP50"] == 1.0 and record["confidence"] == 0.95


def test_resamples_without_a_truth_box_are_left_out():
    # One image of ten has boxes: a resample misses it with probability 0.9 ** 10 = 0.35; mAP is undefined there.
    samples = [Sample("unused.png", boxes=((0.0, 0.0, 10.0, 10.0),) if i == 0 else (), box_labels=(0,) if i == 0
                      else ()) for i in range(10)]
    truth = LabelledSet("boxes", "test", tuple(samples), ("square",))
    found = {"boxes": [np.array(s.boxes, float).reshape(-1, 4) for s in samples],
             "scores": [np.ones(len(s.boxes)) for s in samples], "classes": [np.array(s.box_labels) for s in samples]}
    drop = paired_drop(detection_scores(truth, **found), detection_scores(truth, **found), resamples=300)
    assert 150 < drop.resamples < 250 and (drop.value, drop.low, drop.high) == (0.0, 0.0, 0.0)
