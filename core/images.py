"""Real images for parity and benchmarks: a user's folder, or photos that ship inside installed packages."""
from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import numpy as np

from core.errors import UserError

ROTATED = re.compile(r"(.*)#rot(90|180|270)")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# Colour photos shipped in scikit-image's wheel (skimage/data): no download needed.
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg")


def packaged_image_paths() -> list[Path]:
    """Photos from installed packages: scikit-image's data folder, and ultralytics' assets when installed."""
    paths: list[Path] = []
    ultralytics = package_dir("ultralytics")  # located, not imported: importing it pulls in torch
    if ultralytics:
        paths += sorted((ultralytics / "assets").glob("*.jpg"))
    skimage = package_dir("skimage")
    if skimage:
        paths += [skimage / "data" / name for name in SKIMAGE_PHOTOS if (skimage / "data" / name).is_file()]
    if not paths:
        raise UserError("no packaged sample images found (scikit-image data); pass input.images=DIR")
    return paths


def package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


def image_paths(folder: str | None) -> list[Path]:
    if not folder:
        return packaged_image_paths()
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"input.images={folder!r} is not a directory; give a folder of .jpg/.png images")
    paths = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise UserError(f"input.images={folder!r} holds no images (looked for {', '.join(IMAGE_SUFFIXES)})")
    return paths


def load_rgb(path) -> np.ndarray:
    """HxWx3 uint8 RGB. `photo.jpg#rot90` is the photo turned 90 degrees counter-clockwise (180, 270 likewise)."""
    from PIL import Image, UnidentifiedImageError

    file, degrees = split_rotation(str(path))
    try:
        with Image.open(file) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as error:
        raise UserError(f"cannot read image {file!r}: {error}") from error
    return np.ascontiguousarray(np.rot90(pixels, degrees // 90)) if degrees else pixels


def split_rotation(spec: str) -> tuple[str, int]:
    """'photo.jpg#rot90' -> ('photo.jpg', 90); a plain path -> (path, 0)."""
    found = ROTATED.fullmatch(spec)
    return (found.group(1), int(found.group(2))) if found else (spec, 0)


def samples(folder: str | None, rotations=(0,)) -> list[str]:
    """Every photo of the folder, each at every rotation (degrees, multiples of 90)."""
    return [f"{p}#rot{r}" if r % 360 else str(p) for p in image_paths(folder) for r in rotations]


def load_images(folder: str | None, count: int, cycle: bool = True,
                rotations=(0,)) -> tuple[list[np.ndarray], list[str]]:
    """`count` images with their paths; when the folder holds fewer, cycle through them again or
    (cycle=False, for calibration: repeats add nothing) stop at what there is."""
    chosen = cycled_paths(folder, count, cycle, rotations)
    return [load_rgb(p) for p in chosen], chosen


def cycled_paths(folder: str | None, count: int, cycle: bool = True, rotations=(0,)) -> list[str]:
    """The paths load_images reads, without reading them."""
    paths = samples(folder, rotations)
    return [paths[i % len(paths)] for i in range(count if cycle else min(count, len(paths)))]


def images_digest(paths: list[str]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        file, degrees = split_rotation(path)
        digest.update(Path(file).read_bytes() + (f"#rot{degrees}".encode() if degrees else b""))
    return digest.hexdigest()[:16]
