"""Shared test helpers: run convert.py as a user would (a subprocess) and read what it wrote."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One conversion cache for the test session: isolated from the user's, shared between tests."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def convert(tmp_path, cache_dir):
    """convert(*overrides) -> (CompletedProcess, results dict or None), run in a fresh run dir."""

    def run(*overrides: str, run_dir: Path | None = None, timeout: float = 900):
        run_dir = run_dir or tmp_path / "run"
        env = {**os.environ, "HYDRA_FULL_ERROR": "0", "CONVGRAPH_CACHE": str(cache_dir)}
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        proc = subprocess.run([sys.executable, "convert.py", *overrides, f"hydra.run.dir={run_dir}"],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        results = run_dir / "results.json"
        return proc, (json.loads(results.read_text()) if results.exists() else None)

    return run


FAST = ["model=tiny_cnn", "bench.warmup=1", "bench.runs=3"]
