"""validators.localize's request and reply (core/child_protocol.py): where a candidate first diverges from its
ONNX source, found in a child process. Version 1: the JSON of before this protocol had a type, plus
`schema_version`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import runtimes
from core.artifact import Artifact
from core.child_protocol import Message


@dataclass(frozen=True)
class LocalizeRequest(Message):
    """Compare `artifact`'s intermediate tensors with those of the ONNX file `source` on the first sample of
    `inputs`, at this tolerance; answer a LocalizeReply in `result`."""

    CHILD: ClassVar[str] = "validators.localize"

    source: str
    artifact: Artifact
    inputs: str
    atol: float
    rtol: float
    result: str

    def slow_import(self) -> str | None:
        return runtimes.slow_import(self.artifact.format)


@dataclass(frozen=True)
class LocalizeReply(Message):
    """The first node whose output differs beyond the tolerance (found), or why none was named (`reason`)."""

    found: bool
    node: str | None = None
    op_type: str | None = None
    tensor: str | None = None
    max_abs: float | None = None
    compared_tensors: int | None = None
    reason: str | None = None  # why nothing could be compared (no tensor access for the format, ...)
    source: str | None = None  # the ONNX file compared with
