"""How a model's named inputs are filled: an image input from photos (core.prepost, resized to that input's own
height x width), any other input from arrays (an .npz: one array per input name, samples along axis 0).

The benchmark worker, the parity input set and a deploy bundle's predict.py all build inputs here, so the
same preprocessing is timed, checked and shipped.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from core.prepost import Processing, preprocess_with_meta


@dataclass(frozen=True)
class Feed:
    name: str
    kind: str  # "image" (from photos) or "data" (from arrays)
    shape: list[int]  # as the model is fed, in the reference's layout (NCHW for an image)
    dtype: str = "float32"
    layout: str = ""  # an image input's layout in the reference: NCHW (or NHWC for a channels-last file)

    @property
    def size(self) -> tuple[int, int]:
        """An image input's (height, width)."""
        return (self.shape[1], self.shape[2]) if self.layout == "NHWC" else (self.shape[2], self.shape[3])


def image_feeds(feeds: list[Feed]) -> list[Feed]:
    return [f for f in feeds if f.kind == "image"]


def make_inputs(feeds: list[Feed], proc: Processing, images: list[np.ndarray] | None = None,
                data: dict[str, np.ndarray] | None = None, layouts: dict[str, str] | None = None):
    """(inputs by name, the first image input's per-image placement for postprocess, or None).

    images: uint8 RGB photos, one per sample (for every image input); data: arrays per data input, samples
    along axis 0; layouts: input name -> "NHWC" where the runtime takes an image channels-last."""
    inputs, meta = {}, None
    for feed in feeds:
        if feed.kind == "image":
            layout = (layouts or {}).get(feed.name, feed.layout or "NCHW")
            batch, placed = preprocess_with_meta(images, replace(proc, size=feed.size), layout)
            inputs[feed.name] = batch
            meta = placed if meta is None else meta
        else:
            inputs[feed.name] = np.ascontiguousarray(data[feed.name])
    return inputs, meta


def check_data(feeds: list[Feed], data: dict[str, np.ndarray], where: str) -> list[str]:
    """Problems of arrays meant for the data inputs (a missing name, a wrong dtype or sample shape), each one
    line naming the input, what `where` holds and what the model takes. [] = usable."""
    problems = []
    for feed in (f for f in feeds if f.kind == "data"):
        if feed.name not in data:
            problems.append(f"{where} has no array {feed.name!r} (it has {', '.join(sorted(data)) or 'none'})")
            continue
        array = data[feed.name]
        if str(array.dtype) != feed.dtype:
            problems.append(f"{where}: {feed.name!r} is {array.dtype}, the model takes {feed.dtype}")
        elif list(array.shape[1:]) != list(feed.shape[1:]):
            problems.append(f"{where}: {feed.name!r} has samples of shape {list(array.shape[1:])}, the model takes "
                            f"{list(feed.shape[1:])} (samples go along axis 0)")
    return problems
