"""What the parts of one run share: the config, the run directory and the results being recorded."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

import runtimes
from core.artifact import Artifact
from pipeline.results import RunResults
from runtimes.base import settings_data


@dataclass
class RunContext:
    cfg: DictConfig
    run_dir: Path
    results: RunResults

    def log_path(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    def folder(self, name: str) -> Path:
        path = self.run_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def runtime_settings(self, artifact: Artifact, batch: int = 0, mode: str = "latency") -> dict:
        """runtimes.base.Settings as data: threads, precision, this runtime's block of bench.runtime;
        batch 0 (parity) = whatever batch the inputs have."""
        runtime = runtimes.for_format(artifact.format).name
        return settings_data(OmegaConf.to_container(self.cfg.bench, resolve=True), runtime, artifact.precision,
                             batch, mode)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
