"""Sequence outputs: [N, T, C], a score per class at each of T steps (a text recognizer's characters along its line).

Read as the best class per step; with CTC decoding (`decode="ctc"`) repeats are collapsed and the blank class is
dropped, which leaves the sequence of classes the model read; a vocabulary (one symbol per class) spells it.
A text line is fed as PaddleOCR and RapidOCR feed it: resized to the input's height keeping its aspect ratio (no
wider than the input), the rest of the width padded after normalisation with 0.

numpy only: a deploy bundle ships this file with core/prepost.py.
"""
from __future__ import annotations

import math

import numpy as np

DECODERS = ("ctc",)


def best_classes(scores: np.ndarray) -> np.ndarray:
    """[N, T, C] scores -> [N, T] int64: the best class at each step."""
    if scores.ndim != 3:
        raise ValueError(f"a sequence output is [N, T, C]; got shape {list(scores.shape)}")
    return scores.argmax(axis=2).astype(np.int64)


def ctc_decode(indices: np.ndarray, blank: int = 0) -> list[tuple[int, ...]]:
    """[N, T] best classes -> per sample the classes read: a run of one class counts once, blanks are dropped
    (a class repeated across a blank counts twice, as CTC means it)."""
    decoded = []
    for row in np.asarray(indices):
        keep = np.ones(len(row), bool)
        keep[1:] = row[1:] != row[:-1]
        keep &= row != blank
        decoded.append(tuple(int(i) for i in row[keep]))
    return decoded


def spell(sequence: tuple[int, ...], symbols: tuple[str, ...]) -> str:
    """The classes read, as text (symbols: one per class); without symbols the class indices, e.g. '[3 1 4]'."""
    if not symbols:
        return "[" + " ".join(map(str, sequence)) + "]"
    return "".join(symbols[i] for i in sequence)


def check_classes(classes: int, symbols: tuple[str, ...], blank: int) -> None:
    """A vocabulary must name every class of the output, and the blank must be one of them (ValueError)."""
    if symbols and len(symbols) < classes:
        raise ValueError(f"the vocabulary has {len(symbols)} symbols, the output {classes} classes; give one "
                         "symbol per class")
    if not 0 <= blank < classes:
        raise ValueError(f"blank={blank} is not a class of the output; allowed: 0..{classes - 1}")


def read(scores: np.ndarray, decode: str = "", blank: int = 0, symbols: tuple[str, ...] = ()) -> dict:
    """The postprocess of a sequence output: {"indices": [N, T]} and, with CTC decoding, {"sequences": the
    classes read per sample, "texts": them spelled}."""
    indices = best_classes(scores)
    if not decode:
        return {"indices": indices}
    if decode not in DECODERS:
        raise ValueError(f"decode={decode!r} is not allowed; allowed: {', '.join(DECODERS)}")
    check_classes(scores.shape[2], symbols, blank)
    sequences = ctc_decode(indices, blank)
    return {"indices": indices, "sequences": sequences, "texts": [spell(s, symbols) for s in sequences]}


def fit_height(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, int]:
    """An HxWx3 line image -> (the input-sized canvas holding it resized to the input's height, aspect ratio kept
    and no wider than the input; the width it fills). The caller pads the rest after normalising."""
    from PIL import Image

    out_h, out_w = size
    height, width = image.shape[:2]
    filled = max(1, min(out_w, math.ceil(out_h * width / height)))
    canvas = np.zeros((out_h, out_w, image.shape[2]), np.uint8)
    canvas[:, :filled] = np.asarray(Image.fromarray(image).resize((filled, out_h), Image.BILINEAR))
    return canvas, filled
