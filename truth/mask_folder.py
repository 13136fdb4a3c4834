"""Masks from a folder of PNGs, one per image of the images folder, matched by name stem (photo.jpg ->
photo.png). A mask is one channel (Pillow mode 1, L or P: a palette PNG stores its indices) of class indices at
its image's size; 255 marks pixels no class is scored on."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import UserError
from core.images import image_paths
from truth.label_files import image_size, some
from truth.labelled_set import IGNORE, Sample

MODES = ("1", "L", "P")


def mask_folder(folder: Path, classes: list[str] | None, images: str | None) -> tuple[list[Sample], list[str], dict]:
    from PIL import Image, UnidentifiedImageError

    if not folder.is_dir():
        raise UserError(f"{folder}: is not a folder; allowed: a folder of PNG masks, one per image")
    if not images:
        raise UserError(f"{folder}: masks need input.images, the folder of the images they belong to")
    masks = {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() == ".png"}
    pictures: dict[str, Path] = {}
    for picture in image_paths(images):
        if picture.stem in pictures:
            raise UserError(f"{images}: images {pictures[picture.stem].name!r} and {picture.name!r} share the name "
                            f"{picture.stem!r}; allowed: one image per name, so that one mask names it")
        pictures[picture.stem] = picture
    unmatched = sorted(set(masks) - set(pictures))
    if unmatched:
        raise UserError(f"{masks[unmatched[0]]}: mask of no image in {images}; allowed: a mask per image, of "
                        f"the same name ({len(unmatched)} unmatched: {some(unmatched)})")
    samples, seen = [], set()
    for stem, picture in pictures.items():
        if stem not in masks:
            raise UserError(f"{folder}: no mask {stem}.png for image {picture.name!r}; allowed: a mask per image")
        mask = masks[stem]
        try:
            with Image.open(mask) as opened:
                mode, size = opened.mode, opened.size
                values = np.unique(np.asarray(opened)) if mode in MODES else None
        except (UnidentifiedImageError, OSError) as error:
            raise UserError(f"{mask}: not a PNG Pillow can read ({error})") from error
        if values is None:
            raise UserError(f"{mask}: mode {mode} (several channels); allowed: one channel of class indices, PNG "
                            f"mode {', '.join(MODES)}")
        width, height = image_size(picture, str(mask))
        if size != (width, height):
            raise UserError(f"{mask}: {size[0]}x{size[1]}, but its image {picture.name!r} is {width}x{height}; "
                            f"allowed: the image's own size")
        if classes:
            bad = [int(v) for v in values if v != IGNORE and v >= len(classes)]
            if bad:
                raise UserError(f"{mask}: class index {bad[0]} is out of range; allowed: 0..{len(classes) - 1} "
                                f"and {IGNORE} (ignore)")
        seen.update(int(v) for v in values if v != IGNORE)
        samples.append(Sample(str(picture), mask=str(mask)))
    details = {"format": "PNG mask folder", "ignore value": IGNORE, "classes in the masks": len(seen)}
    return samples, list(classes or []), details


def read_mask(path: str) -> np.ndarray:
    """[H, W] uint8 class indices (IGNORE where no class is scored)."""
    from PIL import Image

    with Image.open(path) as opened:
        return np.asarray(opened, dtype=np.uint8)
