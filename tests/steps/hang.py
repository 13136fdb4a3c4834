"""Test-only step (`kind: tests.steps.hang`): never returns, like a converter stuck in a loop."""
import time
from pathlib import Path


def convert(source, options: dict, run, workdir: Path):
    time.sleep(3600)
