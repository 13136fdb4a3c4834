"""What a run feeds its models, in-process: the input set from a folder (empty, unreadable, cycled to whole
batches), the calibration set, and a user's weights that do not fit. Each mistake is one line naming the value."""
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from core.errors import UserError
from models import build_model
from models.builtin import TinyCNN
from pipeline.bindings import bind, declared_inputs
from pipeline.inputs import prepare_calibration, prepare_inputs
from tests.conftest import composed


def _cfg(*overrides):
    return OmegaConf.create(composed(*overrides, "cache.enabled=false"))


def _feeds(cfg):
    return bind(cfg, declared_inputs(cfg))


def test_images_folder_empty_or_not_images(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match=rf"^input.images='{empty}' holds no images \(looked for .jpg"):
        cfg = _cfg(f"input.images={empty}")
        prepare_inputs(cfg, _feeds(cfg), tmp_path)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "photo.jpg").write_text("not a jpeg")
    with pytest.raises(UserError, match=rf"^cannot read image '{junk / 'photo.jpg'}': "):
        cfg = _cfg(f"input.images={junk}")
        prepare_inputs(cfg, _feeds(cfg), tmp_path)


def test_inputs_cycle_to_whole_batches_and_are_recorded(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    from PIL import Image

    for i, colour in enumerate(["red", "green", "blue"]):
        Image.new("RGB", (40 + i, 30), colour).save(folder / f"{i}.png")
    cfg = _cfg(f"input.images={folder}", "input.batch=2")
    inputs = prepare_inputs(cfg, _feeds(cfg), tmp_path)
    with np.load(inputs.path) as data:
        batch = data["input"]
    assert batch.shape == (4, 3, 32, 32) and batch.dtype == np.float32  # 3 images cycled to 2 batches of 2
    np.testing.assert_array_equal(batch[3], batch[0])
    assert inputs.record.count == 4 and inputs.record.images[3] == inputs.record.images[0]
    assert inputs.bench_images == inputs.record.images[:2] and len(inputs.record.sha256) == 16
    assert inputs.record.tensors == [{"name": "input", "shape": [2, 3, 32, 32], "dtype": "float32", "kind": "image",
                                      "source": "photos", "layout": "NCHW"}]
    cfg = _cfg(f"calibration.images={folder}")
    calibration, record = prepare_calibration(cfg, _feeds(cfg), tmp_path)
    with np.load(calibration) as data:  # one array per input, no repeats for calibration
        assert list(data.files) == ["input"] and data["input"].shape == (3, 3, 32, 32) and record["count"] == 3


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
