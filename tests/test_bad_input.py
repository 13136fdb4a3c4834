"""Bad input: one clear line naming the value and what is allowed, non-zero exit, no traceback."""
import subprocess
import sys

import pytest

from tests.conftest import REPO

CASES = {
    "opset=99": "opset=99 is out of range; allowed: 13..21",
    "precision=int3": "precision='int3' is not supported; allowed: fp32, fp16, bf16, int8",
    "model=nope": "model=nope is not known; available:",
    "model.weights=/no/such/file": "model.weights='/no/such/file': no such file",
    "input.size=-5": "input.size=-5 is not allowed; give an integer >= 8",
    "input.batch=0": "input.batch=0 is not allowed; give an integer >= 1",
    "input.images=/no/such/dir": "input.images='/no/such/dir' is not a directory",
    "+graph=nope": "graph=nope is not known; available:",
}


def _run(*args, tmp_path):
    return subprocess.run([sys.executable, "convert.py", *args, f"hydra.run.dir={tmp_path}/run"], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("override", list(CASES))
def test_bad_value_gives_one_line(override, tmp_path):
    args = [override] if override.startswith("+graph") else ["+graph=openvino", "model=tiny_cnn", override]
    proc = _run(*args, tmp_path=tmp_path)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert CASES[override] in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_no_graph_lists_graphs_and_exits_2(tmp_path):
    proc = _run(tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "+graph=NAME" in proc.stderr and "openvino" in proc.stderr
