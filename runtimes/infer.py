"""Compute one artifact's outputs in this (child) process: `python -m runtimes.infer REQUEST.json`.

Each runtime runs in its own process (TensorFlow next to torch crashed here). Reads the canonical NCHW
inputs from an .npz, writes the outputs to an .npz and runtime facts to a JSON.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from core.artifact import Artifact
from runtimes import load
from runtimes.base import Settings, to_layout


def main(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    artifact = Artifact.from_dict(request["artifact"])
    runner = load(artifact, Settings(**request["settings"]))
    inputs = np.load(request["inputs"])["input"]
    # The artifact's batch is fixed at export: run the input set in chunks of it and join the outputs.
    size = artifact.inputs[0].shape[0] if artifact.inputs and artifact.inputs[0].shape[0] > 0 else len(inputs)
    if len(inputs) % size:
        raise ValueError(f"{len(inputs)} parity inputs do not split into batches of {size}")
    chunks = [runner(to_layout(inputs[i : i + size], runner.layout)) for i in range(0, len(inputs), size)]
    outputs = [np.concatenate(parts) for parts in zip(*chunks, strict=True)]
    np.savez(request["outputs"], *outputs)
    Path(request["info"]).write_text(json.dumps(runner.info()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
