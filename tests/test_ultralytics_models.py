"""The ultralytics model factory: raw-head output, random init that yields boxes, real weights, AGPL boundary."""
import ast
from pathlib import Path

import pytest
import torch

from core.errors import UserError
from models import build_model
from tests.conftest import REPO

YOLO = {"name": "yolov8n", "source": "ultralytics", "classes": 80}


@pytest.fixture(scope="module")
def yolov8n():
    return build_model(YOLO, 0)


@pytest.fixture(scope="module")
def photo():
    from core.images import load_rgb, packaged_image_paths
    from core.prepost import Processing, preprocess

    bus = next(p for p in packaged_image_paths() if p.name == "bus.jpg")
    return torch.from_numpy(preprocess([load_rgb(bus)], Processing(task="detection", size=640, mean=(0.0,),
                                                                   std=(1.0,))))


def test_raw_head_output_with_boxes_above_a_low_threshold(yolov8n, photo):
    with torch.inference_mode():
        out = yolov8n(photo)
    assert isinstance(out, torch.Tensor) and out.shape == (1, 84, 8400)  # export mode: one tensor, not (y, x)
    best = out[0, 4:].max(dim=0).values
    assert (best > 0.001).sum() > 300  # random init still gives parity something to compare
    assert best.std() > 1e-3  # ... and scores that differ between anchors, not one constant
    assert out[0, 2:4].std() > 1.0  # box sizes vary too (they do not without the BatchNorm calibration)


def test_same_seed_same_network(yolov8n, photo):
    with torch.inference_mode():
        torch.testing.assert_close(build_model(YOLO, 0)(photo), yolov8n(photo))
        assert not torch.allclose(build_model(YOLO, 1)(photo), yolov8n(photo))


def _unfused_net(seed):
    """A fresh (unfused) DetectionModel with other weights than seed 0's, as training would leave it."""
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    return DetectionModel("yolov8n.yaml", nc=80, verbose=False)


@pytest.mark.parametrize("form", ["state_dict", "checkpoint"])
def test_weights_are_loaded(tmp_path, photo, form):
    net = _unfused_net(7)
    path = tmp_path / "weights.pt"
    if form == "state_dict":
        torch.save(net.state_dict(), path)
    else:  # as `yolo train` saves: the pickled half-precision model under "model" (and "ema")
        torch.save({"model": net.half(), "ema": None, "epoch": 3}, path)
        net.float()
    loaded = build_model({**YOLO, "weights": str(path)}, 0)
    expected = net.fuse(verbose=False).eval()
    expected.model[-1].export = True
    with torch.inference_mode():
        torch.testing.assert_close(loaded(photo), expected(photo), atol=2e-2, rtol=1e-3)  # half round trip


def test_wrong_weights_and_names_are_one_line_errors(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(UserError, match="does not fit model.name='yolov8n'"):
        build_model({**YOLO, "weights": str(path)}, 0)
    with pytest.raises(UserError, match="not an ultralytics architecture"):
        build_model({**YOLO, "name": "yolov8q"}, 0)
    with pytest.raises(UserError, match="Segment head"):
        build_model({**YOLO, "name": "yolov8n-seg"}, 0)


def test_only_the_factory_imports_ultralytics():
    """AGPL: core, pre/postprocess, parity, timing and the pipeline must run without it."""
    allowed = {REPO / "models" / "ultralytics.py"}
    skip = {"tests", "outputs", "multirun"}  # tests may use it; run dirs are not code
    sources = [p for p in REPO.rglob("*.py") if p not in allowed and not p.relative_to(REPO).parts[0].startswith(".")
               and p.relative_to(REPO).parts[0] not in skip]
    assert REPO / "core" / "prepost.py" in sources and REPO / "convert.py" in sources
    offenders = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] == "ultralytics" for n in names):
                offenders.append(str(Path(path).relative_to(REPO)))
    assert not offenders
