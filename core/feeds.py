"""How a model's named inputs are filled for one call: an image input from photos (core.prepost, resized to that
input's own height x width), any other input from arrays.

The benchmark worker, the parity input set and a deploy bundle's predict.py all build inputs here, so the
same preprocessing is timed, checked and shipped. The input set's files hold many calls (core/samples.py).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from core.prepost import Processing, preprocess_with_meta


@dataclass(frozen=True)
class Feed:
    name: str
    kind: str  # "image" (from photos) or "data" (from arrays)
    shape: list[int]  # as the model is fed in one call, in the reference's layout (NCHW for an image)
    dtype: str = "float32"
    layout: str = ""  # an image input's layout in the reference: NCHW (or NHWC for a channels-last file)
    batch_axis: int | None = None  # the axis input.batch and bench.batch scale; None: it has none (a scalar, ...)

    @property
    def size(self) -> tuple[int, int]:
        """An image input's (height, width)."""
        return (self.shape[1], self.shape[2]) if self.layout == "NHWC" else (self.shape[2], self.shape[3])

    @property
    def batch(self) -> int:
        """The batch it is fed at (1 when it has no batch axis)."""
        return self.shape[self.batch_axis] if self.batch_axis is not None else 1

    def shape_at(self, batch: int) -> list[int]:
        """Its shape in a call of `batch` items: only the batch axis changes."""
        shape = list(self.shape)
        if self.batch_axis is not None:
            shape[self.batch_axis] = batch
        return shape


TENSOR_KEYS = ("name", "kind", "shape", "dtype", "layout", "batch_axis")


def feed_of(record: dict) -> Feed:
    """A Feed from its record (results.json inputs.tensors, a bundle's manifest.json, a child's request)."""
    return Feed(**{key: record[key] for key in TENSOR_KEYS if key in record})


def call_batch(feeds: list[Feed]) -> int:
    """Items one call holds: the batch of its inputs that have a batch axis (1 when none has)."""
    return next((feed.batch for feed in feeds if feed.batch_axis is not None), 1)


def image_feeds(feeds: list[Feed]) -> list[Feed]:
    return [f for f in feeds if f.kind == "image"]


def make_inputs(feeds: list[Feed], proc: Processing, images: list[np.ndarray] | None = None,
                data: dict[str, np.ndarray] | None = None, layouts: dict[str, str] | None = None):
    """One call's (inputs by name, the first image input's per-image placement for postprocess, or None).

    images: uint8 RGB photos, one per batch item (for every image input); data: each data input's array as the
    call takes it; layouts: input name -> "NHWC" where the runtime takes an image channels-last."""
    inputs, meta = {}, None
    for feed in feeds:
        if feed.kind == "image":
            layout = (layouts or {}).get(feed.name, feed.layout or "NCHW")
            batch, placed = preprocess_with_meta(images, replace(proc, size=feed.size), layout)
            inputs[feed.name] = batch
            meta = placed if meta is None else meta
        else:  # (np.ascontiguousarray would make a rank-0 input rank 1)
            value = np.asarray(data[feed.name])
            inputs[feed.name] = value if value.flags.c_contiguous else value.copy()
    return inputs, meta


def check_data(feeds: list[Feed], data: dict[str, np.ndarray], where: str) -> list[str]:
    """Problems of arrays meant for the data inputs (a missing name, a wrong dtype or shape), each one line naming
    the input, what `where` holds and what the model takes: [N, *the shape fed], one sample (a call) per row.
    [] = usable."""
    problems = []
    for feed in (f for f in feeds if f.kind == "data"):
        if feed.name not in data:
            problems.append(f"{where} has no array {feed.name!r} (it has {', '.join(sorted(data)) or 'none'})")
            continue
        array = data[feed.name]
        if str(array.dtype) != feed.dtype:
            problems.append(f"{where}: {feed.name!r} is {array.dtype}, the model takes {feed.dtype}")
        elif array.ndim == 0 or list(array.shape[1:]) != list(feed.shape):
            wanted = ", ".join(["N", *map(str, feed.shape)])
            problems.append(f"{where}: {feed.name!r} has shape {list(array.shape)}; give [{wanted}]: N samples "
                            f"(one call each) of the shape the model is fed, {list(feed.shape)}")
    return problems
