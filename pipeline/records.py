"""The base of every results.json record, and the records pipeline/results.py is built from: the per-node profile
(bench.profile), a stream's parity (a stateful model), the input set and the machine.

pipeline/results.py holds the rest of the schema and its rules (a key the schema does not know fails when
written and is ignored when read); this module only keeps that file short.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

SCHEMA_VERSION = 3  # of results.json and selection.json; pipeline/results.py's docstring says what each changed


def write_atomic(path: Path, text: str) -> Path:
    """Write through a temporary file and a rename: a reader never sees half a file."""
    tmp = path.with_name(f"{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


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
    note: str | None = None  # how the times were made and their limits, where no runtime profiler made them
    statistic: str | None = None  # of the runs, per node: None = mean (a profiler's); median (TFLite's ops alone)


class StreamParity(Record):
    """A stateful model's parity along its streams (validators.streams): every step's error, the first step past
    tolerance and the error at the last step."""

    steps: int  # calls per stream (input.steps)
    streams: int  # one per sample
    max_abs: list[float | None] = Field(default_factory=list)  # per step, over every stream and output
    first_failing_step: int | None = None  # 1-based; None: every step within tolerance
    last_max_abs: float | None = None  # at the last step


class InputSet(Record):
    images: list[str] = Field(default_factory=list)
    count: int | None = None  # items judged: samples x the batch of one call
    samples: int | None = None  # N: calls (the rows of inputs.npz)
    steps: int | None = None  # a stateful model: calls per stream (input.steps)
    sha256: str | None = None
    bench_images: list[str] = Field(default_factory=list)
    batch: int = 1
    size: int | list[int] | None = None  # the first image input's side, or [height, width]
    tensors: list[dict[str, Any]] = Field(default_factory=list)  # each input: name, shape, dtype, kind, source, range
    set: str | None = None  # where the judged samples came from: photos, documents, labels (pipeline.splits)
    data: str | None = None  # input.data: the .npz the data inputs came from


class TuneTrial(Record):
    """One bench.tune candidate: its override of the runtime's settings (runtimes.base.with_override) and the
    median latency it measured (the same inputs, runs and lock as the latency row)."""

    override: dict[str, Any]
    status: str
    median_ms: float | None = None
    error: str | None = None


class Tuned(Record):
    """bench.tune's search for one artifact: every candidate tried, and the one its latency row was measured with
    (and the bundle runs with)."""

    chosen: dict[str, Any]
    trials: list[TuneTrial]


class Cpu(Record):
    model: str
    cores: int | None = None
    cores_available: int | None = None
    flags: list[str] = Field(default_factory=list)


class Environment(Record):
    host: str
    os: str | None = None
    cpu: Cpu
    python: str | None = None
    platform: str | None = None
    packages: dict[str, str | None] = Field(default_factory=dict)
