"""Letterbox: the image lands where the recorded placement says, and boxes map back to the original pixels."""
import numpy as np
import pytest

from core.prepost import Processing, letterbox, preprocess_with_meta


@pytest.mark.parametrize("height,width", [(300, 451), (1080, 810), (640, 640), (100, 50)])
def test_box_round_trip_and_placement(height, width):
    image = np.zeros((height, width, 3), np.uint8)
    box = np.array([[0.2 * width, 0.3 * height, 0.6 * width, 0.9 * height]], np.float32)
    x1, y1, x2, y2 = box[0].round().astype(int)
    image[y1:y2, x1:x2] = 255
    canvas, meta = letterbox(image, 640)
    assert canvas.shape == (640, 640, 3)
    # Round trip: original -> model input -> original gives the same box.
    np.testing.assert_allclose(meta.to_original(meta.to_input(box)), box, atol=1e-3)
    # The white rectangle really is where to_input puts it (bilinear edges: within 1.5 px).
    rows, cols = np.nonzero(canvas[..., 0] > 127)
    found = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    np.testing.assert_allclose(found, meta.to_input(np.array([[x1, y1, x2, y2]], np.float32))[0], atol=1.5)
    # Borders are the pad value; the long side fills the input exactly.
    assert (canvas[0, 0] == 114).all() or meta.top == 0 and meta.left == 0
    assert round(max(height * meta.scale_y, width * meta.scale_x)) == 640


def test_boxes_outside_the_image_are_clipped():
    _, meta = letterbox(np.zeros((300, 600, 3), np.uint8), 640)  # 320 x 640 image, 160 px borders above/below
    assert (meta.left, meta.top) == (0, 160)
    mapped = meta.to_original(np.array([[-10, 100, 700, 600]], np.float32))  # reaches into both borders
    np.testing.assert_allclose(mapped, [[0, 0, 600, 300]])


def test_preprocess_layouts_and_scaling():
    image = np.full((120, 80, 3), 255, np.uint8)
    proc = Processing(task="detection", size=64, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    nchw, meta = preprocess_with_meta([image, image], proc, "NCHW")
    nhwc, _ = preprocess_with_meta([image], proc, "NHWC")
    assert nchw.shape == (2, 3, 64, 64) and nhwc.shape == (1, 64, 64, 3) and nchw.dtype == np.float32
    assert len(meta) == 2 and meta[0].height == 120
    np.testing.assert_allclose(nchw[0, :, 32, 32], 1.0)  # image: 255 / 255
    np.testing.assert_allclose(nchw[0, :, 32, 0], 114 / 255)  # side border: pad value / 255
    np.testing.assert_array_equal(nchw[0].transpose(1, 2, 0), nhwc[0])


def test_classification_has_no_meta():
    batch, meta = preprocess_with_meta([np.zeros((50, 70, 3), np.uint8)], Processing(size=32))
    assert batch.shape == (1, 3, 32, 32) and meta is None
