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
    "graph.steps.simplify.check_n=x": "graph.steps.simplify.check_n='x' is not allowed; give an integer",
    "graph.steps.export.exporter=fast": "graph.steps.export.exporter='fast' is not allowed; allowed: auto, legacy",
    "+graph.steps.export.foo=1": "graph.steps.export.foo is not an option of torch_to_onnx; its options:",
    "graph.steps.export.foo=1": "graph.steps.export.foo is not a config key",
    "bench.runtime.openvino.config={NUM_STREAMS:1}":
        "has keys bench.runtime.openvino.config does not have yet; merge them in with "
        "++bench.runtime.openvino.config={NUM_STREAMS:1}",
    "cache.dir=/proc/nope": "cache.dir='/proc/nope' is not writable",
    "hydra.run.dir=/proc/nope": "hydra.run.dir='/proc/nope' is not writable",
}


def _run(*args, tmp_path):
    run_dir = [] if any(a.startswith("hydra.run.dir") for a in args) else [f"hydra.run.dir={tmp_path}/run"]
    env = {"PATH": "/usr/bin:/bin", "CONVGRAPH_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "convert.py", *args, *run_dir], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env=env)


def _one_line(proc) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("override", list(CASES))
def test_bad_value_gives_one_line(override, tmp_path):
    args = [override] if override.startswith("+graph=") else ["+graph=openvino", "model=tiny_cnn", override]
    assert CASES[override] in _one_line(_run(*args, tmp_path=tmp_path))


def test_no_graph_lists_graphs_and_exits_2(tmp_path):
    proc = _run(tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "+graph=NAME" in proc.stderr and "openvino" in proc.stderr


def _tiny_state(tmp_path, name="w.pt"):
    import torch

    from converters.models import TinyCNN

    path = tmp_path / name
    torch.save(TinyCNN().state_dict(), path)
    return path


def test_truncated_weights_file(tmp_path):
    path = _tiny_state(tmp_path)
    path.write_bytes(path.read_bytes()[:300])
    line = _one_line(_run("+graph=openvino", "model=tiny_cnn", f"model.weights={path}", tmp_path=tmp_path))
    assert f"model.weights='{path}' is not a readable state dict" in line
    # nothing lost: the run still wrote what happened
    assert (tmp_path / "run" / "results.json").exists()


def test_weights_of_another_architecture(tmp_path):
    path = _tiny_state(tmp_path)
    line = _one_line(_run("+graph=openvino", "model=mobilenet_v3_small", "input.size=32", f"model.weights={path}",
                          tmp_path=tmp_path))
    assert "does not fit this architecture" in line


def test_images_folder_empty_or_not_images(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    line = _one_line(_run("+graph=openvino", "model=tiny_cnn", f"input.images={empty}", tmp_path=tmp_path))
    assert "holds no images" in line
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "photo.jpg").write_text("not a jpeg")
    line = _one_line(_run("+graph=openvino", "model=tiny_cnn", f"input.images={junk}", tmp_path=tmp_path))
    assert line.startswith("error: cannot read image") and "photo.jpg" in line
