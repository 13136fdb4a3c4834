"""The schema of the keys that say where a run's samples come from: `input.*` and `calibration.*` (each path
checked to exist, each value in the one line that names it)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StrictInt

from pipeline.schema_types import AtLeast, Strict, custom


def _a_path(key: str, value, what: str) -> None:
    """A path-valued key holds a non-empty string (its file or folder is checked next)."""
    if value is not None and (not isinstance(value, str) or not value):
        raise custom(f"{key}={value!r} is not allowed; give {what}")


def _folder(key: str):
    def check(value):
        _a_path(key, value, "a folder of .jpg/.png images")
        if value is not None and not Path(value).is_dir():
            raise custom(f"{key}={value!r} is not a directory; give a folder of .jpg/.png images")
        return value
    return Annotated[str | None, BeforeValidator(check)]


def image_size(value):
    if value is None:
        return value
    ok = (isinstance(value, int) and not isinstance(value, bool) and value >= 8) or (
        isinstance(value, list) and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 8 for v in value))
    if not ok:
        raise custom(f"input.size={value!r} is not allowed; give a side >= 8 (square) or [height, width], each >= 8")
    return value


def _ranges(value):
    if value is not None and not isinstance(value, dict):
        raise custom(f"input.ranges={value!r} is not allowed; give a mapping of input name to [low, high]")
    for name, pair in (value or {}).items():
        numbers = isinstance(pair, list) and len(pair) == 2 and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in pair)
        if not numbers or pair[0] > pair[1]:
            raise custom(f"input.ranges.{name}={pair!r} is not allowed; give [low, high] with low <= high")
    return value


def _labels(value):
    _a_path("input.labels", value, "a folder of class folders, a CSV, a COCO JSON or a folder of PNG masks")
    if value is not None and not Path(value).exists():
        raise custom(f"input.labels={value!r}: no such file or folder; give a folder of class folders, a CSV, a COCO "
                     "JSON or a folder of PNG masks")
    return value


def _audio(value):
    _a_path("input.audio", value, "a WAV file or a folder of them")
    if value is not None and not Path(value).exists():
        raise custom(f"input.audio={value!r}: no such file or folder; give a WAV file or a folder of them")
    return value


def _data_file(value):
    _a_path("input.data", value, "an .npz file")
    if value is not None and not Path(value).is_file():
        raise custom(f"input.data={value!r}: no such file")
    return value


class InputConfig(Strict):
    set: Literal["photos", "documents"]  # pipeline.splits: where the judged samples come from
    labels: Annotated[str | None, BeforeValidator(_labels)] = None  # ground truth a user brings (truth/labels.py)
    images: _folder("input.images")
    batch: AtLeast(1)
    count: AtLeast(1) | None
    size: Annotated[Any, BeforeValidator(image_size)]
    shapes: dict[str, list[AtLeast(1)]] | None = None  # checked against the model when bound
    ranges: Annotated[dict[str, Any] | None, BeforeValidator(_ranges)] = None
    data: Annotated[str | None, BeforeValidator(_data_file)] = None
    audio: Annotated[str | None, BeforeValidator(_audio)] = None  # WAV windows for a waveform input (core/audio.py)
    # input -> its batch axis (null: none), where the model's own dimension names do not say (pipeline.bindings)
    batch_axes: dict[str, StrictInt | None] | None = None
    steps: AtLeast(1)  # a stateful model (model.state): consecutive calls per sample parity runs
    rotations: Annotated[list[Literal[0, 90, 180, 270]], Field(min_length=1)]


class Calibration(Strict):
    images: _folder("calibration.images")
    count: AtLeast(1) | None = None  # None: the set's own default (pipeline.splits)
    # the share of a user's images (input.labels, input.images) held apart to calibrate on, never judged
    holdout: Annotated[float, Field(gt=0, lt=1)]
