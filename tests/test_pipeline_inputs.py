"""What a run feeds its models, in-process: the input set from a folder (empty, unreadable, cycled to whole
batches), the calibration set, and a user's weights that do not fit. Each mistake is one line naming the value."""
import numpy as np
import pytest
import torch

from core.errors import UserError
from models import build_model
from models.builtin import TinyCNN
from pipeline.bindings import bind, declared_inputs
from pipeline.inputs import prepare_calibration, prepare_inputs, processing_config
from pipeline.splits import choose_samples
from tests.conftest import parsed


def _cfg(*overrides):
    return parsed(*overrides, "cache.enabled=false")


def _feeds(cfg):
    return bind(cfg, declared_inputs(cfg.model))


def _inputs(cfg, tmp_path):
    feeds = _feeds(cfg)
    return prepare_inputs(cfg, feeds, tmp_path, choose_samples(cfg, processing_config(cfg.model, feeds), tmp_path))


def test_images_folder_empty_or_not_images(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match=rf"^input.images='{empty}' holds no images \(looked for .jpg"):
        _inputs(_cfg(f"input.images={empty}"), tmp_path)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "photo.jpg").write_text("not a jpeg")
    with pytest.raises(UserError, match=rf"^cannot read image '{junk / 'photo.jpg'}': "):
        _inputs(_cfg(f"input.images={junk}"), tmp_path)


def test_inputs_cycle_to_whole_batches_and_are_recorded(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    from PIL import Image

    for i, colour in enumerate(["red", "green", "blue", "white", "black"]):
        Image.new("RGB", (40 + i, 30), colour).save(folder / f"{i}.png")
    cfg = _cfg(f"input.images={folder}", "input.batch=3")
    feeds = _feeds(cfg)
    split = choose_samples(cfg, processing_config(cfg.model, feeds), tmp_path)
    # a quarter of the user's images (round(5 * 0.25) = 1) is held apart to calibrate on, chosen by seed
    assert len(split.judged) == 4 and len(split.calibration) == 1 and split.calibration[0] not in split.judged
    assert split.record["calibration"]["shared_with_judged"] == 0
    inputs = prepare_inputs(cfg, feeds, tmp_path, split)
    with np.load(inputs.path) as data:
        batch = data["input"]
    # 4 images cycled to 2 samples (calls) of 3: [N, *the shape one call takes]
    assert batch.shape == (2, 3, 3, 32, 32) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[1, 1], batch[0, 0])  # the 5th image is the 1st again
    assert inputs.record.count == 6 and inputs.record.samples == 2
    assert inputs.record.images[4] == inputs.record.images[0]
    assert inputs.bench_images == inputs.record.images[:3] and len(inputs.record.sha256) == 16
    assert inputs.record.tensors == [{"name": "input", "shape": [3, 3, 32, 32], "batch_axis": 0, "dtype": "float32",
                                      "kind": "image", "source": "photos", "layout": "NCHW"}]
    calibration, record = prepare_calibration(cfg, feeds, tmp_path, split)
    with np.load(calibration) as data:  # one array per input: the held-apart image, cycled to one call of 3
        assert list(data.files) == ["input"] and data["input"].shape == (1, 3, 3, 32, 32) and record["count"] == 1
    cfg = _cfg(f"calibration.images={folder}")  # the user's own calibration folder: every image of it, once
    split = choose_samples(cfg, processing_config(cfg.model, feeds), tmp_path)
    calibration, record = prepare_calibration(cfg, _feeds(cfg), tmp_path, split)
    with np.load(calibration) as data:
        assert data["input"].shape == (5, 1, 3, 32, 32) and record["count"] == 5


def test_packaged_photos_calibrate_on_images_they_do_not_judge(tmp_path):
    cfg = _cfg()
    split = choose_samples(cfg, processing_config(cfg.model, _feeds(cfg)), tmp_path)
    assert len(split.judged) == 7 and len(split.calibration) >= 10
    assert not {p.split("#")[0] for p in split.judged} & set(split.calibration)


def test_weights_of_another_architecture(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(TinyCNN().state_dict(), path)
    cfg = {"name": "mobilenet_v3_small", "source": "torchvision", "task": "classification", "size": 32,
           "weights": str(path)}
    with pytest.raises(UserError, match=f"^model.weights='{path}' does not fit this architecture: "):
        build_model(cfg, 0)
    loaded = build_model({"name": "tiny_cnn", "source": "builtin", "size": 32, "weights": str(path)}, 0)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), torch.load(path).values(),
                                                 strict=True))
