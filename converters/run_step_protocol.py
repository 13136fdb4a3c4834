"""converters.run_step's request and reply (core/child_protocol.py): what the pipeline asks of one step's child
process and what it answers. Version 1: the JSON of before this protocol had a type, plus `schema_version`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from converters import SLOW_IMPORT
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact
from core.child_protocol import Message


@dataclass(frozen=True)
class StepRequest(Message):
    """One step to run: its kind, the user's options as the config gave them (converters.run_step builds the
    kind's Options from them), the run's StepInputs, its input artifact (None for a source step), the work dir it
    writes in and the file it answers in (a StepReply)."""

    CHILD: ClassVar[str] = "converters.run_step"

    kind: str
    options: dict
    inputs: StepInputs
    workdir: str
    result: str
    input: Artifact | None = None

    def slow_import(self) -> str | None:
        return SLOW_IMPORT.get(self.kind)


@dataclass(frozen=True)
class StepReply(Message):
    """What the step came to: its artifacts, or why there are none: `not_applicable` (recorded n/a, not a
    failure), or the error (its type, first line and, when the converter's output says, the node and op)."""

    artifacts: tuple[Artifact, ...] = ()
    not_applicable: str | None = None
    error_type: str | None = None
    message: str | None = None
    node: str | None = None  # converters.failures.failure_site: where the converter broke
    op_type: str | None = None

    @property
    def failure(self) -> str:
        """Why the step made nothing ('' when it made its artifacts or does not apply)."""
        if self.error_type:
            return self.message or self.error_type
        return "" if self.artifacts or self.not_applicable is not None else "made no artifact"
