"""Compute one artifact's outputs in this (child) process: `python -m runtimes.infer REQUEST.json`.

Each runtime runs in its own process (TensorFlow next to torch crashed here). Reads the named inputs (in the
reference's layout, samples along axis 0) from an .npz, writes the outputs to an .npz (arr_0, arr_1, ... in
the reference's order) and runtime facts to a JSON.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from core.artifact import Artifact
from runtimes import load
from runtimes.base import Settings, for_runner, input_batch


def run_all(runner, artifact: Artifact, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Every sample through the runner, in chunks of the artifact's batch (fixed at export) or all at once when
    its batch axis is dynamic; the outputs joined along axis 0."""
    count = len(next(iter(inputs.values())))
    size = input_batch(artifact) or count
    if count % size:
        raise ValueError(f"{count} parity samples do not split into batches of {size}")
    chunks = [runner(for_runner(runner, {n: v[i : i + size] for n, v in inputs.items()}))
              for i in range(0, count, size)]
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]


def main(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    artifact = Artifact.from_dict(request["artifact"])
    runner = load(artifact, Settings(**request["settings"]))
    with np.load(request["inputs"]) as data:
        inputs = {spec.name: data[spec.name] for spec in artifact.inputs}
    np.savez(request["outputs"], *run_all(runner, artifact, inputs))
    Path(request["info"]).write_text(json.dumps(runner.info()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
