"""tools/peers.py end to end on tiny_cnn: a real sweep and its pick, then every peer a user would run instead
(OpenVINO's and ONNX Runtime's defaults on the ONNX file, LiteRT on onnx2tf's own .tflite), each timed and judged."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO, cli_env

PEERS = ["convgraph's pick", "OpenVINO defaults", "ONNX Runtime defaults", "TFLite from onnx2tf defaults"]


def peers(*args: str, cache=None, timeout: float = 1500) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "tools/peers.py", *args], cwd=REPO, env=cli_env(cache),
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_every_peer_is_timed_and_judged_beside_the_pick(tmp_path, cache_dir, bench_lock):
    proc = peers("--model", "tiny_cnn", "--runs", "5", "--rounds", "2", "--precisions", "fp32", "--out", str(tmp_path),
                 "--", "~graph.steps.litert", "bench.warmup=1", f"bench.lock_file={bench_lock}", cache=cache_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for peer in PEERS:  # a row each, with a median in ms and an accuracy
        row = next((line for line in lines if line.startswith(f"| {peer}")), None)
        assert row is not None, f"no row for {peer}:\n{proc.stdout}"
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[3]) > 0 and 0.0 <= float(cells[4]) <= 1.0, row
    assert re.search(r"^ratio: convgraph's pick is \d+\.\d\dx the speed of the fastest peer .*CPU flags: \S",
                     proc.stdout, re.M), proc.stdout
    recorded = json.loads((tmp_path / "peers.json").read_text())
    assert [r["label"].split(":")[0] for r in recorded["rows"]] == PEERS
    # each row timed once per round, the rows in turn; its median is the median of the rounds'
    assert all(len(r["rounds"]) == 2 and r["median_ms"] == pytest.approx(sum(r["rounds"]) / 2)
               for r in recorded["rows"]), recorded["rows"]
    assert "2 rounds of 5 timed runs per row, the rows in turn" in proc.stdout
    assert recorded["rows"][1]["executed"] in ("fp32", "bf16")  # what OpenVINO says it runs in, without a hint
    assert all(r["metric"].startswith("classification agreement") for r in recorded["rows"])  # random weights


def test_an_unknown_model_is_refused_in_one_line_naming_the_allowed():
    proc = peers("--model", "no_such_model", timeout=120)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert "--model no_such_model: not a model config; allowed: " in last and "ppocr_det" in last
