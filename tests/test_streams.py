"""Samples apart from the batch axis, and state carried between calls (issue 23).

Inputs whose first axis is not the batch (a recurrent state [2, batch, 128], a rank-0 sample rate) are bound and
fed as the model takes them; inputs.npz and the recorded outputs are [N, *shape of one call]; a stateful model
runs input.steps calls per sample with its state fed back, on every runtime, and parity says how the error grows
along the stream. In-process checks first, then whole runs of convert.py.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from core.artifact import Artifact, TensorSpec
from core.errors import UserError
from core.samples import call, output_batch_axes, per_item, rebatched
from pipeline.bindings import bind, check_state, declared_inputs, dim_names
from runtimes import infer as infer_module
from runtimes.base import Settings
from runtimes.infer_protocol import InferReply, InferRequest
from tests.conftest import REPO, parsed

FAST = ["bench.warmup=1", "bench.runs=3"]
# a voice-activity detector's inputs as the file has them: audio [batch, 512], state [2, batch, 128], sr []
VAD = [TensorSpec("input", [-1, 512]), TensorSpec("state", [2, -1, 128]), TensorSpec("sr", [], dtype="int64")]
VAD_NAMES = {"input": ["batch", None], "state": [None, "batch", None], "sr": []}
VAD_SHAPES = "input.shapes={input:[1,512],state:[2,1,128],sr:[]}"


def config(*overrides: str, model: str = "tiny_cnn"):
    return parsed(*overrides, model=model)


def error_of(call) -> str:
    with pytest.raises(UserError) as caught:
        call()
    assert "\n" not in str(caught.value)
    return str(caught.value)


class Vad(nn.Module):
    """A voice-activity detector in the shape of the issue's: a chunk of audio, a recurrent state whose batch is
    its axis 1, a rank-0 int64 sample rate; a speech probability and the next state."""

    def __init__(self):
        super().__init__()
        self.frame, self.cell, self.head = nn.Linear(512, 64), nn.Linear(64 + 256, 256), nn.Linear(256, 1)

    def forward(self, audio, state, sr):
        x = torch.relu(self.frame(audio * (sr.to(audio.dtype) / 16000.0)))
        flat = state.permute(1, 0, 2).reshape(audio.shape[0], 256)
        new = torch.tanh(self.cell(torch.cat([x, flat], dim=1)))
        return torch.sigmoid(self.head(new)), new.reshape(audio.shape[0], 2, 128).permute(1, 0, 2)


def vad_file(path, named: bool = True):
    """The VAD exported as other tools export it: dynamic batch named on the audio's axis 0 and the state's axis 1
    (named=False: the state's batch left unnamed, as some files have it)."""
    import onnx

    torch.manual_seed(0)
    torch.onnx.export(Vad().eval(), (torch.randn(1, 512), torch.zeros(2, 1, 128), torch.tensor(16000)), str(path),
                      opset_version=17, dynamo=False, input_names=["input", "state", "sr"],
                      output_names=["output", "stateN"],
                      dynamic_axes={"input": {0: "batch"}, "state": {1: "batch"}})
    if not named:
        model = onnx.load(str(path))
        model.graph.input[1].type.tensor_type.shape.dim[1].ClearField("dim_param")
        onnx.save(model, str(path))
    return path


# ---- binding: batch axes and state -------------------------------------------------------------------------
def test_batch_axes_follow_the_models_dimension_names():
    feeds = {f.name: f for f in bind(config("input.batch=3"), VAD, VAD_NAMES)}
    assert (feeds["input"].shape, feeds["input"].batch_axis) == ([3, 512], 0)
    assert (feeds["state"].shape, feeds["state"].batch_axis) == ([2, 3, 128], 1)  # input.batch scales axis 1
    assert (feeds["sr"].shape, feeds["sr"].batch_axis) == ([], None)
    assert feeds["state"].shape_at(4) == [2, 4, 128] and feeds["sr"].shape_at(4) == []  # bench.batch likewise
    # a file that names nothing: the state's batch is not guessed, input.batch_axes says it
    static = [TensorSpec("input", [1, 512]), TensorSpec("state", [2, 1, 128]), TensorSpec("sr", [], dtype="int64")]
    assert [f.batch_axis for f in bind(config(), static, {})] == [None, None, None]
    told = bind(config("input.batch_axes={input:0,state:1}"), static, {})
    assert [f.batch_axis for f in told] == [0, 1, None]
    # the model built here declares its inputs with words: "batch" on the state's axis 1
    cfg = config(model="tiny_rnn")
    assert [(f.name, f.shape, f.batch_axis) for f in bind(cfg, declared_inputs(cfg.model), dim_names(cfg.model))] == [
        ("x", [1, 4, 8], 0), ("h", [2, 1, 16], 1), ("sr", [], None)]


def test_every_batch_axis_or_state_mistake_is_one_line():
    assert error_of(lambda: bind(config("input.batch_axes={state:5}"), VAD, VAD_NAMES)) == (
        "input.batch_axes.state=5 is out of range for input 'state' of rank 3 [2, ?, 128]; give 0..2 or null "
        "(no batch axis)")
    assert error_of(lambda: bind(config("input.batch_axes={sr:0}"), VAD, VAD_NAMES)) == (
        "input.batch_axes.sr=0 is out of range for input 'sr' of rank 0 []; give null: a rank-0 input has no "
        "batch axis")
    assert error_of(lambda: bind(config("input.batch_axes={nope:0}"), VAD, VAD_NAMES)) == (
        "input.batch_axes.nope: the model has no input 'nope'; its inputs: input, state, sr")
    assert error_of(lambda: bind(config("input.shapes={input:[1,512],state:[2,3,128],sr:[]}"), VAD, VAD_NAMES)) == (
        "input 'state' is fed [2, 3, 128], but the model expects its dimension 1 ('batch') to be 1, as dimension 0 "
        "of input 'input' is fed; give both the same size in input.shapes")
    cfg = config("model.state={h_out:nope}", model="tiny_rnn")
    assert error_of(lambda: bind(cfg, declared_inputs(cfg.model), dim_names(cfg.model))) == (
        "model.state.h_out=nope: the model has no input 'nope'; its inputs: x, h, sr")
    cfg = config(model="tiny_rnn")
    feeds = bind(cfg, declared_inputs(cfg.model), dim_names(cfg.model))
    outputs = [TensorSpec("logits", [1, 4, 3]), TensorSpec("hn", [2, 1, 16])]
    assert error_of(lambda: check_state(cfg.model.state, feeds, outputs)) == (
        "model.state.h_out: the model has no output 'h_out'; its outputs: logits, hn")
    outputs = [TensorSpec("logits", [1, 4, 3]), TensorSpec("h_out", [2, 1, 32])]
    assert error_of(lambda: check_state(cfg.model.state, feeds, outputs)) == (
        "model.state.h_out=h: output 'h_out' is float32 [2, 1, 32], input 'h' is fed float32 [2, 1, 16]; a state "
        "output must fit its input")
    check_state(cfg.model.state, feeds, [TensorSpec("logits", [1, 4, 3]), TensorSpec("h_out", [2, -1, 16])])  # fits


def test_one_call_at_another_batch_and_one_row_per_item():
    """[N, *shape of one call] -> a call of 3 items along the batch axis; recorded outputs -> one row per item."""
    state = np.arange(2 * 2 * 2 * 3).reshape(2, 2, 2, 3)  # N=2 samples of [2 layers, batch 2, 3]
    three = rebatched(state, 1, 3)
    assert three.shape == (2, 3, 3)
    np.testing.assert_array_equal(three[:, 2], state[1, :, 0])  # item 3 is the second sample's first
    assert rebatched(np.array([16000, 8000]), None, 4).shape == ()  # no batch axis: the first sample's scalar
    logits, h_out = np.arange(2 * 2 * 4).reshape(2, 2, 4), state  # [N, B, 4] and [N, L, B, 3]
    axes = output_batch_axes(["logits", "h_out"], {"h_out": "h"}, {"h": 1})
    assert axes == [0, 1]
    rows = per_item([logits, h_out], axes)
    assert rows[0].shape == (4, 4) and rows[1].shape == (4, 2, 3)
    np.testing.assert_array_equal(rows[1][3], state[1, :, 1])  # item 4: sample 2, batch element 2
    streams = per_item([np.zeros((2, 16, 1, 4, 3))], lead=2)  # [N, steps, B, ...]: every call's items
    assert streams[0].shape == (32, 4, 3)


# ---- a runtime that cannot take what it is fed: one line ------------------------------------------------------
def test_inputs_a_model_cannot_take_are_named_with_the_shape_fed_and_expected(tmp_path, capsys):
    import onnxruntime as ort

    path = vad_file(tmp_path / "vad.onnx")
    artifact = Artifact("model", "onnx", str(path), inputs=VAD)
    # the layout before issue 23: samples stacked on axis 0 of every input (8 states of [2, 1, 128] -> [8, 1, 128])
    np.savez(tmp_path / "stacked.npz", input=np.zeros((1, 8, 512), np.float32),
             state=np.zeros((1, 8, 1, 128), np.float32), sr=np.full((1,), 16000))
    InferRequest(artifact=artifact, settings=Settings(threads=1), inputs=str(tmp_path / "stacked.npz"),
                 outputs=str(tmp_path / "out.npz"), info=str(tmp_path / "info.json")).write(tmp_path / "request.json")
    assert infer_module.main(str(tmp_path / "request.json")) == 2
    said = "input 'state' is fed [8, 1, 128]; model expects [2, ?, 128]"
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {said}"
    assert InferReply.read(tmp_path / "info.json").error == said  # the parity check reads it from the reply
    # what ONNX Runtime itself says, made one line
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    fed = {"input": np.zeros((1, 8, 512), np.float32), "state": np.zeros((1, 8, 1, 128), np.float32),
           "sr": np.full((1,), 16000)}
    with pytest.raises(Exception) as caught:
        session.run(None, call(fed, 0))
    assert infer_module.failure_line(artifact, fed, caught.value) == (
        "input 'state' is fed [8, 1, 128]; model expects 2 at axis 0, not 8 (onnxruntime)")


@pytest.mark.cli
def test_a_reference_that_cannot_run_stops_in_one_line(convert, tmp_path):
    """The state's batch unnamed in the file: fed at batch 3 beside audio at batch 1, the reference's Concat
    refuses; the run stops before any step with one line naming every input's shape as fed, exit 2."""
    path = vad_file(tmp_path / "vad.onnx", named=False)
    run = convert("+graph=openvino", "model=onnx", f"model.path={path}", "model.task=raw",
                  "input.shapes={input:[1,512],state:[2,3,128],sr:[]}", "input.ranges={sr:[16000,16000]}")
    assert run.returncode == 2 and "Traceback" not in run.output, run.tail()
    line = next(line for line in run.stderr.splitlines() if line.startswith("error: "))
    assert line.startswith("error: the reference model could not run: inputs fed as input [1, 512], state [2, 3, 128], "
                           "sr []: Fail: Non-zero status code returned while running Concat node.")


# ---- whole runs ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def _rnn_runs() -> dict:
    return {}


@pytest.fixture
def rnn_run(_rnn_runs, convert, tmp_path_factory):
    """model=tiny_rnn through every runtime (the acceptance run of issue 23), made once for the tests that read
    it (their xdist group keeps them on one worker). Function-scoped over a module store so that it asks for
    `convert`: conftest then schedules it with the conversions, early. Without the litert road (torch -> TFLite
    straight, its own tests) and the fp32-inapplicable onnx_lowp: nothing here reads them."""
    if "run" not in _rnn_runs:
        _rnn_runs["run"] = convert("+graph=all", "model=tiny_rnn", *FAST, "~graph.steps.litert",
                                   "~graph.steps.onnx_lowp", run_dir=tmp_path_factory.mktemp("rnn") / "run")
    return _rnn_runs["run"]


@pytest.mark.slow
@pytest.mark.xdist_group("rnn")
def test_tiny_rnn_passes_every_step_of_its_streams(rnn_run):
    run = rnn_run
    for name in ("export", "simplify", "openvino"):
        entry = run.parity(name)
        assert entry.passed and entry.stream.steps == 16 and entry.stream.streams == 8, entry
        assert entry.stream.first_failing_step is None and entry.stream.last_max_abs < 1e-5
    # onnx2tf cannot convert a GRU given an initial state: one line naming the op; the other branches pass
    tf = run.steps()["tf"]
    assert tf.status == "failed" and (tf.node, tf.op_type) == ("/gru/GRU", "GRU") and "ValueError" in tf.error, tf
    assert "\n" not in tf.error and run.statuses()["tflite_fp32"] == "skipped"
    rows = {b.artifact: b for b in run.results.bench}
    assert {"model", "simplify", "openvino"} <= set(rows) and all(rows[n].ok for n in ("model", "simplify", "openvino"))
    assert rows["simplify"].state == {"h_out": "h"}  # timed with a live state, fed back between calls
    assert "passed (16 steps, last " in run.stdout
    assert "Along the streams" in (run.dir / "report.md").read_text()


@pytest.mark.slow
@pytest.mark.xdist_group("rnn")
def test_tiny_rnn_files_hold_samples_apart_from_the_batch_axis(rnn_run):
    """inputs.npz: [N, *shape fed] (the state zeros, sr rank 0 per sample); recorded outputs [N, steps, *out], the
    reference's streams exactly what PyTorch gives when its state is fed back by hand."""
    run = rnn_run
    with np.load(run.dir / "inputs.npz") as data:
        inputs = {name: data[name] for name in data.files}
    assert {k: v.shape for k, v in inputs.items()} == {"x": (8, 1, 4, 8), "h": (8, 2, 1, 16), "sr": (8,)}
    assert not inputs["h"].any() and inputs["sr"].dtype == np.int64
    logits, h_out = run.recorded_outputs("model")
    assert logits.shape == (8, 16, 1, 4, 3) and h_out.shape == (8, 16, 2, 1, 16)
    model = torch.load(run.artifact("model").path, weights_only=False).eval()
    for stream in (0, 5):
        h = torch.from_numpy(inputs["h"][stream])
        for step in range(16):
            sample = (stream + step) % 8  # a stream walks on through the following samples
            with torch.inference_mode():
                out, h = model(torch.from_numpy(inputs["x"][sample]), h, torch.tensor(inputs["sr"][sample]))
            np.testing.assert_allclose(out.numpy(), logits[stream, step], atol=1e-6)
    assert np.abs(logits[0, 1] - logits[0, 0]).max() > 1e-3  # the state moved the answer


@pytest.mark.slow
def test_a_vad_shaped_file_through_every_runtime_and_its_bundle(convert, tmp_path):
    """The issue's command, on a file of that shape with its state carried: every runtime passes its streams
    (onnx2tf turns the scalar into a [1] vector: the adapters feed it so). Its bundle keeps the state across
    predict calls: its answers on the run's samples are the reference's first stream."""
    from ship.predict import Bundle

    path = vad_file(tmp_path / "vad.onnx")
    run = convert("+graph=all", "model=onnx", f"model.path={path}", "model.task=raw", VAD_SHAPES,
                  "input.ranges={sr:[16000,16000]}", "model.state={stateN:state}", *FAST,
                  "+select=latency", "select.runtimes=[onnxruntime]", "~graph.steps.onnx_lowp")
    assert run.returncode == 0, run.tail()
    tensors = {t["name"]: (t["shape"], t["batch_axis"]) for t in run.results.inputs.tensors}
    assert tensors == {"input": ([1, 512], 0), "state": ([2, 1, 128], 1), "sr": ([], None)}
    for name in ("simplify", "openvino", "tf", "tflite_fp32", "tflite_fp16"):
        entry = run.parity(name)
        assert entry.passed and entry.stream.steps == 16, (name, entry)
    bundle = Bundle(run.dir / "deploy")
    answers = list(bundle.predict([str(run.dir / "deploy" / "samples.npz")]))
    assert [a["sample"] for a in answers] == [f"{run.dir / 'deploy' / 'samples.npz'}#{k}" for k in range(8)]
    first_stream = run.recorded_outputs("model")[0][0]  # [steps, 1, 1]: samples 0, 1, ... with the state fed back
    got = np.array([a["outputs"]["output"] for a in answers])
    np.testing.assert_allclose(got, first_stream[:8, 0], atol=1e-5)
    check = subprocess.run([sys.executable, "-m", "ship.verify_bundle", str(run.dir / "deploy")], cwd=REPO,
                           capture_output=True, text=True, timeout=900)
    assert check.returncode == 0 and "equals_run_record        ok (8 run sample(s))" in check.stdout, check.stdout


@pytest.mark.slow
def test_an_image_model_at_batch_2_with_throughput_at_1_and_2(convert):
    """tiny_cnn fed two images per call: 7 photos make 4 samples of 2 (the last one cycled), recorded as
    [4, 2, 10]; parity and the task judge the 8 images; the benchmark measures batch 1 and 2."""
    run = convert("+graph=openvino", "model=tiny_cnn", "input.batch=2", "bench.batch=[1,2]", *FAST,
                  "~graph.steps.onnx_lowp")  # n/a at fp32
    assert run.returncode == 0, run.tail()
    with np.load(run.dir / "inputs.npz") as data:
        assert data["input"].shape == (4, 2, 3, 32, 32)
    assert run.recorded_outputs("model")[0].shape == (4, 2, 10)
    assert run.results.inputs.samples == 4 and run.results.inputs.count == 8
    for name in ("export", "simplify", "openvino"):
        entry = run.parity(name)
        assert entry.passed and entry.outputs[0].shape == [8, 10] and entry.task.agreement == 1.0, entry
    for row in run.results.bench:
        assert row.ok and row.batch == 2, row
        assert {e.batch: e.status for e in row.throughput} == {1: "ok", 2: "ok"}, row.throughput
