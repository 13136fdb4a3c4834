"""Models a user brings: several named inputs of other dtypes, a file's dynamic dimensions bound from the
config, a text model with int64 inputs, a segmentation model at any height x width; and their deploy bundles,
which read .npz files for inputs that are not images."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO

FAST = ["bench.warmup=1", "bench.runs=3", "~graph.steps.onnx_lowp"]  # onnx_lowp: n/a at fp32, nothing to judge
# a small BERT: one layer of width 64 over 16 tokens converts in seconds and has what a big one has (Erf, int64).
# (At width 32 onnx2tf itself fails, in its accuracy-correction pass: the step then fails in one line.)
BERT = ["model=bert", "model.sequence_length=16", "model.config.num_hidden_layers=1", "model.config.hidden_size=64",
        "model.config.num_attention_heads=2", "model.config.intermediate_size=128"]
pytestmark = pytest.mark.slow


def passed(run, names):
    for name in names:
        entry = run.parity(name)
        assert entry.passed, (name, entry)
    return True


def test_two_inputs_an_image_and_a_vector_through_every_runtime(convert):
    run = convert("+graph=all", "model=tiny_two_inputs", *FAST, "~graph.steps.tflite_fp16", "~graph.steps.litert")
    assert run.returncode == 0, run.tail()
    tensors = {t["name"]: t for t in run.results.inputs.tensors}
    assert tensors["image"] == {"name": "image", "shape": [1, 3, 32, 32], "batch_axis": 0, "dtype": "float32",
                                "kind": "image", "source": "photos", "layout": "NCHW"}
    assert tensors["features"] == {"name": "features", "shape": [1, 8], "batch_axis": 0, "dtype": "float32",
                                   "kind": "data", "source": "generated", "range": [0.0, 1.0]}
    assert passed(run, ["export", "simplify", "openvino", "tf", "tflite_fp32"])
    assert "-rtpo Erf" in run.artifact("tf").meta["command"]  # its GELU: TFLite runs it once replaced
    rows = {b.runtime: b for b in run.results.bench}
    assert set(rows) == {"torch", "onnxruntime", "openvino", "tensorflow", "tflite"}
    assert all(r.ok for r in rows.values())
    assert rows["tflite"].layouts == {"image": "NHWC"}  # only the image goes channels-last
    with np.load(run.dir / "inputs.npz") as data:  # [N, *the shape of one call]
        assert data["image"].shape[1:] == (1, 3, 32, 32) and data["features"].shape[1:] == (1, 8)


def test_a_file_with_dynamic_dims_is_bound_and_converted_everywhere(convert, tmp_path):
    """torchvision's mobilenet_v3_small exported with dynamic batch, height and width, as other tools export."""
    import torch

    from models import build_model

    model = build_model({"name": "mobilenet_v3_small", "source": "torchvision", "task": "classification",
                         "size": 224, "preprocess": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}, 0)
    path = tmp_path / "dynamic.onnx"
    torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), str(path), opset_version=17, dynamo=False,
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch"}})
    # OpenVINO and onnx2tf take the file as given (not the simplified, already static ONNX): each must be told
    # the shapes itself
    # bound to a small H x W (neither square nor the export's 224): onnx2tf's time grows with it
    run = convert("+graph=all", "model=onnx", f"model.path={path}", "input.shapes={x:[1,3,96,128]}",
                  "graph.steps.openvino.input=model", "graph.steps.tf.input=model", "bench.enabled=false",
                  "~graph.steps.tflite_fp16", "~graph.steps.onnx_lowp")
    assert run.returncode == 0, run.tail()
    assert run.artifact("model").inputs[0].shape == [-1, 3, -1, -1]  # the file as given is the reference
    assert passed(run, ["simplify", "openvino", "tf", "tflite_fp32"])
    assert run.parity("tflite_fp32").task.agreement == 1.0
    assert run.results.inputs.tensors[0]["shape"] == [1, 3, 96, 128] and run.results.processing["size"] == [96, 128]
    assert run.artifact("simplify").meta["onnxsim_shapes"] == {"overwrite_input_shapes": {"x": [1, 3, 96, 128]}}
    assert run.artifact("openvino").meta["reshaped"] == {"x": [1, 3, 96, 128]}
    assert run.artifact("openvino").inputs[0].shape == [1, 3, 96, 128]
    assert "-ois x:1,3,96,128" in run.artifact("tf").meta["command"]
    assert run.artifact("tf").inputs[0].shape == [1, 3, 96, 128]


def test_bert_int64_inputs_and_a_bundle_that_reads_npz(convert):
    run = convert("+graph=openvino", *BERT, *FAST, "+select=latency", "select.runtimes=[onnxruntime]")
    assert run.returncode == 0, run.tail()
    tensors = {t["name"]: t for t in run.results.inputs.tensors}
    assert tensors["input_ids"] == {"name": "input_ids", "shape": [1, 16], "batch_axis": 0, "dtype": "int64",
                                    "kind": "data", "source": "generated", "range": [0, 30521]}
    assert tensors["attention_mask"]["range"] == [1, 1] and tensors["token_type_ids"]["range"] == [0, 0]
    assert passed(run, ["export", "simplify", "openvino"])
    assert run.parity("openvino").task.task == "classification"
    with np.load(run.dir / "deploy" / "samples.npz") as samples:
        assert samples["input_ids"].dtype == np.int64 and samples["input_ids"].shape == (8, 1, 16)
    check = subprocess.run([sys.executable, "-m", "ship.verify_bundle", str(run.dir / "deploy")], cwd=REPO,
                           capture_output=True, text=True, timeout=900)
    assert check.returncode == 0 and "predict                  ok (8 samples)" in check.stdout, check.stdout
    assert "equals_run_record        ok (8 run sample(s))" in check.stdout


def test_a_tflite_file_that_needs_tensorflow_ops_fails_naming_them(convert):
    """With the GELU's Erf left to TensorFlow (no pseudo ops), the TFLite file needs FlexErf: its step fails in
    one line naming the op, and the TF branch it came from still converts and passes. (With the default
    pseudo_ops the same model runs in TFLite: the test above.)"""
    run = convert("+graph=tflite", "model=tiny_two_inputs", "bench.enabled=false", "~graph.steps.tflite_fp16",
                  "graph.steps.tf.pseudo_ops=[]")
    assert run.returncode == 1
    assert "-rtpo" not in run.artifact("tf").meta["command"] and run.parity("tf").passed
    step = run.steps()["tflite_fp32"]
    assert step.status == "failed" and step.error.startswith(
        "the TFLite file needs TensorFlow op(s) FlexErf, which ai-edge-litert cannot run")


def test_a_segmentation_model_at_any_height_and_width(convert):
    run = convert("+graph=openvino", "model=lraspp", "model.size=[64,96]", *FAST, "+select=latency",
                  "select.runtimes=[openvino]")
    assert run.returncode == 0, run.tail()
    assert run.results.processing["size"] == [64, 96] and run.results.inputs.size == [64, 96]
    task = run.parity("openvino").task
    assert task.task == "segmentation" and task.agreement >= 0.9 and task.pixel_agreement >= 0.9
    assert run.artifact("model").outputs[0].shape == [1, 21, 64, 96]
    assert "mIoU" in run.stdout
    check = subprocess.run([sys.executable, "-m", "ship.verify_bundle", str(run.dir / "deploy")], cwd=REPO,
                           capture_output=True, text=True, timeout=900)
    assert check.returncode == 0 and "equals_run_record        ok" in check.stdout, check.stdout
