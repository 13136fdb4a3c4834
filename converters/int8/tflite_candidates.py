"""A TFLite int8 candidate (the .tflite content the search made) run through the Runner the benchmark and the parity
check use: timed beside the float file (SideBySide), its outputs on the samples, and its per-op profile."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from converters.int8.search import where_the_time_went
from core.artifact import Artifact
from core.samples import stacked
from runtimes.base import Settings, for_runner


def timed_call(content: bytes, source: Artifact, workdir: Path, sample: dict):
    """One inference of a .tflite content through the Runner the benchmark uses, on one sample (for SideBySide)."""
    from runtimes.tflite import TFLiteRunner

    path = workdir / f"timed_{time.perf_counter_ns()}.tflite"
    path.write_bytes(content)
    runner = TFLiteRunner(Artifact(name="timed", format="tflite", path=str(path), precision="int8",
                                   inputs=source.inputs, outputs=source.outputs), Settings())
    path.unlink()  # loaded: the interpreter keeps what it needs
    feed = for_runner(runner, sample)
    return lambda: runner(feed)


def profiled(content: bytes, float_content: bytes, source: Artifact, workdir: Path, sample: dict) -> str:
    """Where the int8 file's time goes, beside the float builtins file's op time: the TFLite per-op profile (each op
    timed alone in a one-op model, as bench.profile does)."""
    from runtimes.tflite import TFLiteRunner, profile

    def of(data: bytes, precision: str) -> dict:
        path = workdir / f"profiled_{precision}.tflite"
        path.write_bytes(data)
        artifact = Artifact(name="profiled", format="tflite", path=str(path), precision=precision,
                            inputs=source.inputs, outputs=source.outputs)
        feed = for_runner(TFLiteRunner(artifact, Settings()), sample)
        try:
            return profile(artifact, Settings(), feed, runs=5)
        finally:
            path.unlink()

    return where_the_time_went(of(content, "int8"), of(float_content, "fp32"))


def outputs_of(content: bytes, source: Artifact, workdir: Path, samples: list[dict]) -> list[np.ndarray]:
    """A candidate's outputs on the samples through the TFLite Runner the parity check uses (its tensors paired
    with the reference's), one sample at a time, stacked."""
    from runtimes.tflite import TFLiteRunner

    path = workdir / "candidate.tflite"
    path.write_bytes(content)
    runner = TFLiteRunner(Artifact(name="candidate", format="tflite", path=str(path), precision="int8",
                                   inputs=source.inputs, outputs=source.outputs), Settings())
    outputs = stacked([runner(for_runner(runner, sample)) for sample in samples])
    path.unlink()
    return outputs
