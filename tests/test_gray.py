"""Any channel count is an image: a float rank-4 input with 1 channel gets the photos in grayscale (ITU-R 601 luma,
one mean and one std), NCHW or NHWC, and a 1-channel input takes GRAY unless the config says otherwise."""
from __future__ import annotations

import numpy as np
import pytest

from core.artifact import image_layout
from core.errors import UserError
from core.feeds import Feed
from core.prepost import Processing, preprocess
from pipeline.config import validate
from tests.conftest import composed

PHOTO = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)


def gray_model(path, shape=(1, 1, 32, 32)):
    """A few-op ONNX classifier whose input has one channel: Conv(1 -> 4) -> GlobalAveragePool -> Flatten."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(1).normal(size=(4, 1, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["conv"], pads=[1, 1, 1, 1]),
         helper.make_node("GlobalAveragePool", ["conv"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["logits"])],
        "gray", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [shape[0], 4])],
        [numpy_helper.from_array(weights, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_one_channel_float_rank4_is_an_image_either_layout():
    assert image_layout([1, 1, 64, -1], "float32") == "NCHW"
    assert image_layout([-1, 32, 100, 1], "float32") == "NHWC"
    assert image_layout([1, 3, 1, 1], "float32") == "NCHW"  # three channels first: colour wins
    assert image_layout([1, 2, 32, 32], "float32") == ""
    assert image_layout([1, 1, 32, 32], "int64") == ""
    assert image_layout([1, 1, 32], "float32") == ""


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_gray_is_the_luma_of_the_photo_with_one_mean_and_std(layout):
    proc = Processing(task="segmentation", size=(60, 80), mean=(0.5,), std=(0.25,), channels="GRAY")
    batch = preprocess([PHOTO], proc, layout)
    assert batch.shape == ((1, 1, 60, 80) if layout == "NCHW" else (1, 60, 80, 1))
    plane = batch[0, 0] if layout == "NCHW" else batch[0, ..., 0]
    luma = (0.299 * PHOTO[..., 0] + 0.587 * PHOTO[..., 1] + 0.114 * PHOTO[..., 2]) / 255
    np.testing.assert_allclose(plane, (luma - 0.5) / 0.25, atol=1e-5)


def test_a_mean_per_colour_becomes_its_luma_and_two_values_are_refused():
    proc = Processing(channels="GRAY", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    assert proc.mean == pytest.approx((0.299 * 0.485 + 0.587 * 0.456 + 0.114 * 0.406,))
    assert len(proc.std) == 1
    with pytest.raises(ValueError, match=r"^mean=\[0.5, 0.5\] is not allowed with channels=GRAY; give one value$"):
        Processing(channels="GRAY", mean=(0.5, 0.5))
    with pytest.raises(UserError) as caught:
        validate(composed("cache.enabled=false", "+model.preprocess.channels=GRAY", "model.preprocess.mean=[0.5,0.5]"))
    assert str(caught.value) == ("model.preprocess.mean=[0.5, 0.5] is not allowed with channels GRAY; give one "
                                 "value")


def test_a_one_channel_input_defaults_to_gray_and_refuses_a_colour_order(tmp_path):
    from pipeline.bindings import bind, choose_channels, declared_inputs

    path = gray_model(tmp_path / "gray.onnx", (1, 1, 32, 48))
    cfg = validate(composed("cache.enabled=false", f"model.path={path}", model="onnx"))
    feeds = bind(cfg, declared_inputs(cfg.model))
    assert feeds == [Feed("x", "image", [1, 1, 32, 48], "float32", "NCHW", batch_axis=0)]
    choose_channels(cfg.model, feeds)
    assert cfg.model.preprocess["channels"] == "GRAY" and cfg.model.preprocess["crop_ratio"] == 0.875
    cfg.model.preprocess["channels"] = "BGR"
    with pytest.raises(UserError) as caught:
        choose_channels(cfg.model, feeds)
    assert str(caught.value) == "model.preprocess.channels='BGR' does not fit input x [1, 1, 32, 48]: 1 channel; " \
                                "allowed: GRAY"
    colour = [Feed("x", "image", [1, 3, 32, 32], "float32", "NCHW")]
    cfg.model.preprocess["channels"] = "GRAY"
    with pytest.raises(UserError, match=r"^model.preprocess.channels='GRAY' does not fit input x \[1, 3, 32, 32\]: "):
        choose_channels(cfg.model, colour)


@pytest.mark.slow
def test_a_one_channel_file_is_fed_grayscale_photos_everywhere(convert, tmp_path):
    path = gray_model(tmp_path / "gray.onnx")
    run = convert("+graph=openvino", "model=onnx", f"model.path={path}", "bench.warmup=1", "bench.runs=3",
                  "~graph.steps.onnx_lowp")  # n/a at fp32
    assert run.returncode == 0, run.tail()
    assert run.results.processing["channels"] == "GRAY"
    assert run.feeds() == [{"name": "x", "kind": "image", "shape": [1, 1, 32, 32], "dtype": "float32",
                            "layout": "NCHW", "batch_axis": 0}]
    from core.images import load_rgb

    proc = Processing.from_config(run.results.processing)
    with np.load(run.dir / "inputs.npz") as data:
        fed = data["x"]
    expected = np.stack([preprocess([load_rgb(p)], proc) for p in run.results.inputs.images])  # [N, 1, 1, H, W]
    np.testing.assert_array_equal(fed, expected)  # the photos' luma, not generated noise
    assert fed.shape[2] == 1 and len(np.unique(fed[0])) > 100
    assert run.parity("openvino").passed and run.bench("openvino").ok
