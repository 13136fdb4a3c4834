"""Pictures of known shapes at known places, for labels files whose right answers the tests know.

Scene i holds a red square and a blue disc (an ellipse inside its box) at boxes that move with i; its mask is
drawn the same way (0 background, 1 square, 2 disc)."""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

CLASSES = ("square", "disc")  # detection / classification class indices
MASK_CLASSES = ("background", "square", "disc")
COLOURS = ((200, 40, 40), (40, 40, 200))
SIZE = (96, 64)  # width, height


def scene(i: int) -> list[tuple[int, tuple[int, int, int, int]]]:
    """[(class, (x1, y1, x2, y2))]: a square on the left, a disc on the right, both well inside the picture."""
    shift = 3 * (i % 5)
    return [(0, (4 + shift, 6, 30 + shift, 32)), (1, (50, 10 + shift, 90, 40 + shift))]


def draw(path: Path, shapes, size=SIZE) -> Path:
    picture = Image.new("RGB", size, (128, 128, 128))
    pen = ImageDraw.Draw(picture)
    for cls, box in shapes:
        (pen.rectangle if cls == 0 else pen.ellipse)(box, fill=COLOURS[cls])
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path)
    return path


def draw_mask(path: Path, shapes, size=SIZE, ignore: tuple[int, int, int, int] | None = None) -> Path:
    """Class indices per pixel (class + 1; 0 background), `ignore` a box of 255."""
    mask = Image.new("L", size, 0)
    pen = ImageDraw.Draw(mask)
    for cls, box in shapes:
        (pen.rectangle if cls == 0 else pen.ellipse)(box, fill=cls + 1)
    if ignore:
        pen.rectangle(ignore, fill=255)
    path.parent.mkdir(parents=True, exist_ok=True)
    mask.save(path)
    return path


def draw_scenes(folder: Path, count: int) -> list[Path]:
    return [draw(folder / f"scene{i:02d}.png", scene(i)) for i in range(count)]


def one_shape(path: Path, cls: int, i: int = 0) -> Path:
    """A picture of a single shape of class `cls` (a classification sample)."""
    shift = 2 * (i % 7)
    return draw(path, [(cls, (10 + shift, 8, 60 + shift, 50))])
