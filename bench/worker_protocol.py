"""bench.worker's request and reply (core/child_protocol.py): one measurement of one artifact, made in a child
process. Version 1: the JSON of before this protocol had a type, plus `schema_version`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.artifact import Artifact
from core.child_protocol import Message
from core.feeds import Feed
from runtimes.base import Settings
from runtimes.infer_protocol import RunnerFacts


@dataclass(frozen=True)
class BenchRequest(Message):
    """Time `artifact` with `settings` on one call of `rows` batch items made from `feeds`: image inputs from
    `images` (through `processing`), data inputs from the input set `data`; `warmup` then `runs` iterations.
    The answer, a BenchReply, goes to `result`. Its child always starts cold (no slow_import): its peak memory
    counts the runtime's own import, as the process a user ships would; a fork would count only the pages it
    touched."""

    CHILD: ClassVar[str] = "bench.worker"

    artifact: Artifact
    settings: Settings
    feeds: tuple[Feed, ...]
    rows: int  # batch items in the one call timed
    processing: dict  # core.prepost.Processing.from_config
    warmup: int
    runs: int
    result: str
    images: tuple[str, ...] = ()
    data: str | None = None  # inputs.npz: where data inputs come from
    profile: bool = False  # bench.profile: the runtime's per-node profile after the timed loop
    onnx: str | None = None  # the ONNX the artifact was made from: the node names a profile is joined onto
    progress: str | None = None  # the live view's slot (bench/progress_slot.py); no part of the measurement

    def measured(self) -> dict:
        """What the measurement depends on besides the artifact's and the input set's content: its memo key."""
        return {key: value for key, value in self.to_dict().items()
                if key not in ("artifact", "result", "data", "progress")}


@dataclass(frozen=True)
class BenchReply(RunnerFacts):
    """One measurement: the runner's facts, the cold start, then the latency loop's (infer_ms, pre/post) or
    throughput's (images_per_s) statistics (bench.timing.summarize), the peak RSS and the load elsewhere."""

    artifact: str | None = None
    format: str | None = None
    precision: str | None = None
    batch: int | None = None
    mode: str | None = None
    threads: int | None = None
    load_s: float | None = None  # compile_s + first_infer_s
    compile_s: float | None = None
    first_infer_s: float | None = None
    pre_ms: float | None = None
    post_ms: float | None = None
    infer_ms: dict | None = None
    images_per_s: dict | None = None
    throughput_ips: float | None = None
    boxes_per_image: list[int] | None = None
    profile: dict | None = None
    peak_rss_mb: float | None = None
    other_load_cores: float | None = None
