"""When a converter breaks (issue 25): the step names the node and op it broke at, a known repair makes it convert,
and tools.reduce cuts the model down to a file that still fails the same way (shown here on OpenVINO, whose
conversions take seconds; on the onnx2tf crash each candidate is a minute-long onnx2tf run: README, "When something
fails", gives what it did).

The models are a small CRNN (convolutions, then a bidirectional LSTM over the columns, as OCR recognizers are
built) exported by torch: its LSTM's zero initial state is an Expand that onnxsim 0.8.1 removes, and onnx2tf 1.28.8
then dies in its LSTM converter, as it did on a real OCR recognizer. Its dynamically quantized sibling
(onnxruntime's quantize_dynamic) has a com.microsoft DynamicQuantizeLSTM that onnx2tf has no converter for.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow
RAW = ["model=onnx", "model.task=raw", "bench.enabled=false"]


def crnn_onnx(path):
    import torch
    from torch import nn

    class CRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
            self.rnn = nn.LSTM(16, 12, bidirectional=True)
            self.head = nn.Linear(24, 10)

        def forward(self, x):
            columns = self.conv(x).mean(dim=2).permute(2, 0, 1)  # [width, batch, channels]
            return self.head(self.rnn(columns)[0]).softmax(-1)

    torch.manual_seed(0)
    torch.onnx.export(CRNN().eval(), (torch.randn(1, 3, 32, 64),), str(path), opset_version=13, dynamo=False,
                      input_names=["x"], output_names=["probs"])
    return path


def reduce(run_dir, artifact, *extra):
    return subprocess.run([sys.executable, "-m", "tools.reduce", str(run_dir), artifact, *extra], cwd=REPO,
                          capture_output=True, text=True, timeout=1800)


def test_onnx2tf_crash_is_named_and_repaired(convert, tmp_path):
    model = crnn_onnx(tmp_path / "crnn.onnx")
    run = convert("+graph=tflite", *RAW, f"model.path={model}", "~graph.steps.tflite_fp16",
                  "~graph.steps.tflite_int8", "~graph.steps.tflite_fp32",
                  "+graph.steps.repaired={kind: onnx_to_tf, input: simplify, repairs: [lstm_initial_state]}")
    assert run.returncode == 1, run.tail()
    tf = run.steps()["tf"]
    assert tf.status == "failed" and tf.error == ("onnx2tf failed at node '/rnn/LSTM' (LSTM): TypeError: 'NoneType' "
                                                  "object is not subscriptable")
    step = next(s for s in run.data["steps"] if s["name"] == "tf")
    assert (step["node"], step["op_type"]) == ("/rnn/LSTM", "LSTM")

    # the repair: explicit zeros, said in the meta, and the SavedModel matches the reference
    assert run.steps()["repaired"].status == "ok" and run.parity("repaired").passed
    meta = run.artifact("repaired").meta
    assert meta["repairs"] == [{"repair": "lstm_initial_state", "node": "/rnn/LSTM", "op_type": "LSTM",
                                "added": ["initial_h", "initial_c"], "zeros": [2, 1, 12]}]
    assert "-nuo" in meta["command"].split()  # onnx2tf's own onnxsim pass would remove them again



def test_an_op_onnx2tf_has_no_converter_for_is_said_so(convert, tmp_path):
    from onnxruntime.quantization import quantize_dynamic

    quantized = tmp_path / "crnn_int8.onnx"
    quantize_dynamic(str(crnn_onnx(tmp_path / "crnn.onnx")), str(quantized))
    run = convert("+graph=tflite", *RAW, f"model.path={quantized}", "~graph.steps.simplify",
                  "graph.steps.tf.input=model", "~graph.steps.tflite_fp16", "~graph.steps.tflite_int8",
                  "~graph.steps.tflite_fp32")
    assert run.returncode == 1, run.tail()
    tf = run.steps()["tf"]
    assert tf.error == "onnx2tf has no converter for DynamicQuantizeLSTM (com.microsoft), needed by node " \
                       f"{tf.node!r}" and tf.op_type == "DynamicQuantizeLSTM"
    assert tf.node.startswith("/rnn/LSTM")


def test_a_parity_failure_is_reduced_to_the_node_miscompiled(convert, tmp_path):
    """tests.steps.miscompile negates a Conv's kernel before OpenVINO converts: parity fails after it, and the
    reduced file is that Conv, still failing parity; without it, parity passes."""
    model = crnn_onnx(tmp_path / "crnn.onnx")
    run = convert("+graph=openvino", *RAW, f"model.path={model}", "~graph.steps.onnx_lowp", "~graph.steps.openvino",
                  "+graph.steps.broken={kind: tests.steps.miscompile, input: simplify, then: onnx_to_openvino, "
                  "node: /conv/conv.2/Conv}")
    assert not run.parity("broken").passed
    done = reduce(run.dir, "broken")
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads((run.dir / "reduce" / "broken" / "reduce.json").read_text())
    assert found["failure"] == "parity" and found["reproduces"] and found["nodes"] == ["/conv/conv.2/Conv (Conv)"]
    assert "exceeds atol 0.0001" in found["line"] and found["worst_abs"] > 0.1
    assert any(not c["fails"] and c["line"].startswith("parity passes") for c in found["candidates"])
    assert f"conversions: {found['conversions']} (each candidate: tests.steps.miscompile + parity check)" in done.stdout
    assert reduce(run.dir, "broken", "--recheck").returncode == 0
