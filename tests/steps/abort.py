"""Test-only step (`kind: tests.steps.abort`): dies of SIGABRT, like a native library's assertion."""
import os
from pathlib import Path


def convert(source, options: dict, run, workdir: Path):
    (workdir / "half_written.onnx").write_bytes(b"partial")  # must never be taken for an artifact
    os.abort()
