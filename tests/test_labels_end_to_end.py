"""Labels a user brings, through convert.py as a user runs it: every artifact (the reference too) gets its accuracy
against them and its drop against the reference with an interval; calibration holds a share of them apart; a
malformed file stops the run in one line before anything runs."""
from __future__ import annotations

import json

import pytest

from tests.shapes import CLASSES, draw_scenes, one_shape, scene

# accuracy against the labels is judged with parity, not measured by the benchmark: no test here reads a bench row
FAST = ["bench.enabled=false", "~graph.steps.onnx_lowp"]


def _class_folders(root, per_class: int = 6):
    for cls, name in enumerate(CLASSES):
        for i in range(per_class):
            one_shape(root / name / f"{i}.png", cls, i)
    return root


def _coco(folder, count: int = 6):
    paths = draw_scenes(folder, count)
    images = [{"id": i + 1, "file_name": p.name, "width": 96, "height": 64} for i, p in enumerate(paths)]
    annotations = [{"id": 10 * (i + 1) + k, "image_id": i + 1, "category_id": cls + 1, "iscrowd": 0, "area": 1.0,
                    "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]}
                   for i in range(count) for k, (cls, box) in enumerate(scene(i))]
    path = folder / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)]}))
    return path


@pytest.mark.cli
def test_a_labelled_folder_judges_every_artifact_and_calibrates_apart(convert, tmp_path):
    root = _class_folders(tmp_path / "labelled")
    run = convert("+graph=openvino", "model=tiny_cnn", *FAST, f"input.labels={root}", "precision=int8")
    assert run.returncode == 0, run.tail()
    accuracy = {a.artifact: a for a in run.results.accuracy}
    assert set(accuracy) == {"model", "export", "simplify", "openvino"}
    for entry in accuracy.values():
        assert entry.metric == "top-1 accuracy" and 0 <= entry.value <= 1 and entry.reference == "model"
        assert entry.low <= entry.drop <= entry.high, entry
    assert accuracy["simplify"].drop == 0 and not accuracy["simplify"].distinguishable  # the same numbers
    samples = run.results.samples
    # 12 images, a quarter held apart by seed to calibrate the int8 step on; the rest judged; none shared
    assert samples["judged"]["count"] == 9 and samples["calibration"]["count"] == 3
    assert samples["calibration"]["shared_with_judged"] == 0 and samples["truth"]["kind"] == "classes"
    assert run.results.calibration["count"] == 3
    assert not set(run.results.calibration["images"]) & set(run.results.inputs.images)
    report = (run.dir / "report.md").read_text()
    assert "## Accuracy against the truth" in report and "top-1 accuracy" in report


@pytest.mark.slow
def test_a_coco_json_scores_map_for_every_artifact(convert, tmp_path):
    labels = _coco(tmp_path / "coco")
    run = convert("+graph=openvino", "model=yolov8n", "input.size=160", *FAST, f"input.labels={labels}")
    assert run.returncode == 0, run.tail()
    accuracy = {a.artifact: a for a in run.results.accuracy}
    assert {"model", "simplify", "openvino"} <= set(accuracy)
    for entry in accuracy.values():  # random weights: mAP near 0, but measured the same way for each
        assert entry.metric == "mAP50-95" and 0 <= entry.value <= 1 and "mAP50" in entry.model_extra
    assert run.results.samples["truth"]["kind"] == "boxes"


@pytest.mark.cli
@pytest.mark.parametrize("change, expected", [
    ("missing_image", "does not exist"),
    ("negative_box", "has a negative size"),
])
def test_a_malformed_label_file_stops_the_run_in_one_line(convert, tmp_path, change, expected):
    labels = _coco(tmp_path / "coco", 3)
    data = json.loads(labels.read_text())
    if change == "missing_image":
        data["images"][0]["file_name"] = "nowhere.png"
    else:
        data["annotations"][0]["bbox"][2] = -4
    labels.write_text(json.dumps(data))
    run = convert("+graph=openvino", "model=yolov8n", "input.size=160", *FAST, f"input.labels={labels}")
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert run.returncode == 2 and len(errors) == 1 and "Traceback" not in run.output, run.tail()
    assert str(labels) in errors[0] and expected in errors[0], errors
    assert not (run.dir / "steps").exists() and not (run.dir / "parity").exists()  # refused before any step
