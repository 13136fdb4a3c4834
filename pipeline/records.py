"""The base of every results.json record, and the per-node profile records (bench.profile).

pipeline/results.py holds the rest of the schema and its rules (a key the schema does not know fails when
written and is ignored when read); this module only keeps that file short.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_unknown(cls, data, info: ValidationInfo):
        """Reading a file another version wrote: keys this schema does not know are left out, at every level."""
        if info.context and info.context.get("lenient") and isinstance(data, dict) \
                and cls.model_config.get("extra") == "forbid":
            return {k: v for k, v in data.items() if k in cls.model_fields}
        return data

    def get(self, key: str, default=None):
        """dict-style access for code that reads optional fields by name (templates, generic tables)."""
        value = getattr(self, key, None)
        return default if value is None else value


class NodeProfile(Record):
    """One executed node of a runtime's profile (runtimes/profiling.py)."""

    name: str  # as the runtime calls it
    op_type: str  # the op it executed (ORT after fusion: QLinearConv; OpenVINO: its layer type)
    ms: float  # mean per inference
    share: float  # of the profiled nodes' total
    precision: str  # what its kernel executed in: int8, fp32, bf16; fp32->int8 for a conversion (QuantizeLinear)
    kernel: str | None = None  # OpenVINO's exec_type (brgconv_avx512_I8); ORT: the execution provider
    onnx_nodes: list[str] = Field(default_factory=list)  # the ONNX nodes it implements: the join across runtimes


class Profile(Record):
    """bench.profile: the runtime's own per-node profile of the artifact, made after the timed loop."""

    available: bool
    reason: str | None = None  # why there is none
    how: str | None = None  # the runtime's profiler
    runs: int | None = None  # profiled inferences (after a warm-up)
    nodes_ms: float | None = None  # the nodes' times summed, per inference
    run_ms: float | None = None  # one profiled inference end to end (profiler overhead included)
    nodes: list[NodeProfile] | None = None  # slowest first
