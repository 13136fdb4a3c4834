"""runtimes.infer's request and reply (core/child_protocol.py): an artifact's outputs on an input set, computed in
a child process. Version 1: the JSON of before this protocol had a type, plus `schema_version`; the reply (info.json)
says why it could not run in `error` (before: only the log's last line did)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import runtimes
from core.artifact import Artifact
from core.child_protocol import Message
from runtimes.base import Settings


@dataclass(frozen=True)
class InferRequest(Message):
    """Run `artifact` with `settings` on every sample of `inputs` (an .npz, [N, *shape fed] per input); write the
    outputs to `outputs` (arr_0, arr_1, ... [N, *output]; a stateful model's [N, steps, *output]) and an
    InferReply to `info`."""

    CHILD: ClassVar[str] = "runtimes.infer"

    artifact: Artifact
    settings: Settings
    inputs: str
    outputs: str
    info: str
    steps: int = 1  # calls per stream of a stateful model (input.steps)

    def slow_import(self) -> str | None:
        return runtimes.slow_import(self.artifact.format)


@dataclass(frozen=True)
class RunnerFacts(Message):
    """What a loaded Runner reports (Runner.info()): the base of the replies of the children that run one."""

    runtime: str | None = None
    version: str | None = None
    executed_precision: str | None = None
    layout: str | None = None  # NHWC when the runtime takes an image input channels-last
    layouts: dict[str, str] | None = None  # per input, where not the reference's
    settings: dict | None = None  # what the runtime applied
    outputs: dict[str, str] | None = None  # how each reference output was found (renamed, transposed)
    state: dict[str, str] | None = None  # a stateful model: the outputs fed back as inputs


@dataclass(frozen=True)
class InferReply(RunnerFacts):
    """The runner's facts, or, when the inputs did not fit or the runtime refused them, `error`: one line naming
    the input, the shape fed and the shape expected."""

    error: str | None = None
