"""What the parts of one run share: the config, the run directory and the results being recorded."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import runtimes
from core.artifact import Artifact
from core.feeds import Feed, call_batch
from pipeline.progress import Progress
from pipeline.results import RunResults
from pipeline.schema import Config
from runtimes.base import settings_data, with_override


@dataclass
class RunContext:
    config: Config  # parsed once (pipeline.config.parse): what every part of the run reads
    run_dir: Path
    results: RunResults
    feeds: list[Feed] = field(default_factory=list)  # the model's inputs as this run feeds them
    processing: dict = field(default_factory=dict)  # pre/postprocess (core.prepost.Processing.from_config)
    progress: Progress = field(default_factory=Progress)  # the live view's events (none off a terminal)

    def log_path(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    def folder(self, name: str) -> Path:
        path = self.run_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def runtime_settings(self, artifact: Artifact, batch: int = 0, mode: str = "latency",
                         override: dict | None = None) -> dict:
        """runtimes.base.Settings as data: threads, precision, this runtime's block of bench.runtime, the input
        shapes at `batch` (only batch axes scale; dynamic dimensions are fixed to them at load; batch 0 (parity):
        none fixed) and the state carried between calls (model.state); with a bench.tune override applied."""
        runtime = runtimes.for_format(artifact.format).name
        shapes = {f.name: f.shape_at(batch) for f in self.feeds} if batch else {}
        bench = self.config.bench.model_dump(by_alias=True, exclude_unset=True)
        settings = settings_data(bench, runtime, artifact.precision, shapes, mode, self.state)
        return with_override(settings, runtime, override or {})

    @property
    def state(self) -> dict[str, str]:
        """model.state: output -> the input it feeds on the next call ({} for a model without state)."""
        return dict(self.config.model.state or {})

    @property
    def task_check(self) -> dict:
        """validate.task as the task metrics take it."""
        return self.config.validate_.task.model_dump()

    @property
    def call_batch(self) -> int:
        """Items one call holds as the run feeds it (the latency row's batch)."""
        return call_batch(self.feeds)

    @property
    def batch_axes(self) -> dict[str, int | None]:
        return {feed.name: feed.batch_axis for feed in self.feeds}
