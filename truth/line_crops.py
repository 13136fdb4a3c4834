"""One image per rendered text line, cut from its page with a margin of background, for a text recognizer: the
line's string is its truth. Written beside the pages (reused while the pages are the same, index last)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from truth.documents import Page, read_index, write_atomically
from truth.labelled_set import Sample

MARGIN = 4  # pixels of background kept around a line's ink, as a detector's box leaves some
INDEX = "lines.json"


def line_crops(pages: list[Page], folder: Path) -> tuple[Sample, ...]:
    """A sample per line of every page: its crop (PNG in `folder`) and its text."""
    from PIL import Image

    digest = hashlib.sha256(json.dumps([p.record() for p in pages]).encode()).hexdigest()
    parameters = {"pages": digest, "margin": MARGIN}
    known = read_index(folder / INDEX)
    if known is not None and known["parameters"] == parameters and \
            all((folder / crop["file"]).is_file() for crop in known["crops"]):
        return tuple(Sample(image=str(folder / c["file"]), text=c["text"]) for c in known["crops"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / INDEX).unlink(missing_ok=True)
    crops = []
    for page in pages:
        with Image.open(page.path) as image:
            for number, line in enumerate(page.lines):
                x0, y0, x1, y1 = line.box
                box = (max(0, x0 - MARGIN), max(0, y0 - MARGIN), min(page.width, x1 + MARGIN),
                       min(page.height, y1 + MARGIN))
                name = f"{page.path.stem}-line{number:03d}.png"
                crop = image.crop(box)
                crop.save(folder / name, format="PNG", compress_level=1)
                crops.append({"file": name, "text": line.text, "page": page.path.name, "box": list(box)})
    write_atomically(folder / INDEX, json.dumps({"parameters": parameters, "crops": crops}, indent=1).encode())
    return tuple(Sample(image=str(folder / c["file"]), text=c["text"]) for c in crops)
