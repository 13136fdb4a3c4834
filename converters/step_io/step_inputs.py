"""What the run tells every step besides the user's own options: `StepInputs`, typed and frozen. It crosses into
the step's child process as JSON inside converters.run_step's StepRequest (converters/run_step_protocol.py, read
back field by field), beside the options, which nobody writes to."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from core.feeds import Feed


@dataclass(frozen=True)
class TaskTarget:
    """What an accuracy-aware int8 step judges its candidates by: the run's pre/postprocess, validate.task and the
    agreement to reach (the step's `target`, else the task's floor at int8)."""

    processing: dict  # core.prepost.Processing.from_config
    task: dict  # validate.task
    target: float


@dataclass(frozen=True)
class StepInputs:
    """The run's side of a step: the inputs as bound (shapes, batch axes, dtypes), whether their batch axes stay
    dynamic (bench.batch asks for other batches than input.batch), a stateful model's state, the calibration set
    (an int8 step's) and, when an accuracy-aware search runs, what it judges by (None: it quantizes everything)."""

    feeds: tuple[Feed, ...] = ()
    dynamic_batch: bool = False
    state: dict[str, str] = field(default_factory=dict)  # model.state: output -> the input it feeds next call
    calibration: str | None = None  # calibration.npz: one array per input, [N, *shape fed]
    accuracy: TaskTarget | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["feeds"] = [asdict(feed) for feed in self.feeds]
        return data


@dataclass(frozen=True)
class SourceOptions:
    """A source step's options (torch_model, onnx_file, torch_file): the model block and the run's seed."""

    model: dict
    seed: int = 0
