"""Artifact: what one step hands to the next. A file or directory on disk plus what is known about it.

Steps pass artifacts, never live objects, so that every step and every runtime can run in its own process.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

FORMATS = ("torch", "onnx", "openvino", "tf_savedmodel", "tflite")


DTYPES = ("float32", "float16", "int64", "int32", "int8", "uint8", "bool")


@dataclass
class TensorSpec:
    name: str
    shape: list[int]  # as the artifact declares it: -1 where a dimension is dynamic
    layout: str = ""  # "NCHW", "NHWC" or "" when the tensor has no image layout
    dtype: str = "float32"  # numpy's name (DTYPES)

    def is_image(self) -> bool:
        """An image (3 channels, or 1: grayscale): what the photos are resized into."""
        return self.layout in ("NCHW", "NHWC")


IMAGE_CHANNELS = (3, 1)  # colour, grayscale


def image_layout(dims: list[int], dtype: str) -> str:
    """A float rank-4 tensor with 3 or 1 channels is an image: NCHW, or NHWC when only its last axis is 3 (or 1)."""
    if len(dims) != 4 or not dtype.startswith("float"):
        return ""
    for channels in IMAGE_CHANNELS:
        if dims[1] == channels:
            return "NCHW"
        if dims[3] == channels:
            return "NHWC"
    return ""


@dataclass
class Artifact:
    name: str  # the graph step (or "model" for the source) that produced it
    format: str
    path: str
    precision: str = "fp32"
    inputs: list[TensorSpec] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)
    meta: dict = field(default_factory=dict)  # opset, exporter, node counts, ...
    sha256: str = ""
    bytes: int = 0

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"unknown artifact format {self.format!r}; known: {', '.join(FORMATS)}")
        self.inputs = [t if isinstance(t, TensorSpec) else TensorSpec(**t) for t in self.inputs]
        self.outputs = [t if isinstance(t, TensorSpec) else TensorSpec(**t) for t in self.outputs]

    def seal(self) -> Artifact:
        """Record size and content hash of what is on disk now."""
        self.sha256, self.bytes = hash_path(Path(self.path))
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Artifact:
        return cls(**data)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: Path) -> Artifact:
        return cls.from_dict(json.loads(path.read_text()))


# Bump when what hash_path covers changes: the step cache's keys include it, so entries recorded under the old
# scheme (which would no longer verify) are never looked up again.
HASH_SCHEME = 2  # 2: a SavedModel's fingerprint.pb is left out


def hash_path(path: Path) -> tuple[str, int]:
    """sha256 and byte count of a file, or of a directory's files (names included, in sorted order).

    A TF SavedModel is hashed by what defines it, saved_model.pb and variables/: its fingerprint.pb differs on
    every save of the same model, so two identical conversions would never hash alike. Its bytes still count."""
    digest = hashlib.sha256()
    total = 0
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    skip = path / "fingerprint.pb" if path.is_dir() and (path / "saved_model.pb").is_file() else None
    for file in files:
        if file == skip:  # its bytes count, its content does not
            total += file.stat().st_size
            continue
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                total += len(chunk)
    return digest.hexdigest(), total
