"""torch_to_litert: the second road to TFLite (litert-torch, straight from the torch model). Its files keep the
image input NCHW and name their tensors like the reference's; fp32 and fp16 pass parity against PyTorch, int8 is
full-integer down to its edges and its task agreement is reported; a model it cannot export fails its own step
in one line while the ONNX branch goes on."""
import numpy as np
import pytest
import torch
from ai_edge_litert.interpreter import Interpreter

from converters.torch_to_litert import identifiers
from core.errors import StepFailed
from models.builtin import TinyCNN
from tests.conftest import FAST

pytest.importorskip("litert_torch", reason="the `litert` extra (litert-torch) is not installed")

# tiny_cnn at int8 (so a calibration set exists), with the fp32 (a dynamic batch) and fp16 files beside it as
# steps of their own; images/s at batch 2 exercises the dynamic batch. The litert road alone: the ONNX branch
# (export, simplify) is asserted by the tests that read it, not here. One xdist group: the run is made once.
PRECISIONS_RUN = ["+graph=litert", *FAST, "precision=int8", "bench.batch=[1,2]",
                  "~graph.steps.export", "~graph.steps.simplify",
                  "+graph.steps.litert_fp32.kind=torch_to_litert", "+graph.steps.litert_fp32.input=model",
                  "+graph.steps.litert_fp32.precision=fp32",
                  "+graph.steps.litert_fp16.kind=torch_to_litert", "+graph.steps.litert_fp16.input=model",
                  "+graph.steps.litert_fp16.precision=fp16"]


@pytest.fixture(scope="module")
def precisions_run(tmp_path_factory, cache_dir, bench_lock):
    from tests.conftest import run_convert

    run = run_convert(*PRECISIONS_RUN, run_dir=tmp_path_factory.mktemp("litert") / "run", cache=cache_dir,
                      lock=bench_lock)
    assert run.returncode == 0, run.tail()
    return run


def signature(path: str) -> tuple[dict, dict]:
    """The file's serving signature: inputs and outputs by name -> (shape signature, dtype)."""
    runner = Interpreter(model_path=path).get_signature_runner("serving_default")
    return ({n: (list(d["shape_signature"]), d["dtype"]) for n, d in runner.get_input_details().items()},
            {n: (list(d["shape_signature"]), d["dtype"]) for n, d in runner.get_output_details().items()})


@pytest.mark.xdist_group("litert")
def test_fp32_keeps_nchw_names_its_tensors_and_matches_pytorch(precisions_run):
    lite = precisions_run.artifact("litert_fp32")
    assert lite.format == "tflite" and lite.precision == "fp32"
    inputs, outputs = signature(lite.path)
    # the image input as PyTorch takes it (onnx2tf's is NHWC); a dynamic batch; tensors named like the reference's
    assert inputs == {"input": ([-1, 3, 32, 32], inputs["input"][1])} and set(outputs) == {"logits"}
    assert lite.inputs[0].shape == [-1, 3, 32, 32] and lite.meta["dynamic_batch"] is True
    assert lite.meta["litert_torch"] == "0.10.0" and lite.meta["quantization"] == "none"
    assert lite.meta["conversion_seconds"] > 0
    parity = precisions_run.parity("litert_fp32")
    assert parity.passed and parity.reference == "model"  # against PyTorch itself
    assert max(o.max_abs for o in parity.outputs) < 1e-5
    row = precisions_run.bench("litert_fp32")
    assert row.runtime == "tflite" and row.outputs == {"logits": "logits"}  # paired by name
    assert {t.batch: t.status for t in row.throughput} == {1: "ok", 2: "ok"}  # the dynamic batch takes 2


@pytest.mark.xdist_group("litert")
def test_fp16_stores_half_weights_within_fp16_tolerance(precisions_run):
    half, full = precisions_run.artifact("litert_fp16"), precisions_run.artifact("litert_fp32")
    assert half.precision == "fp16" and "float16" in half.meta["quantization"]
    assert half.bytes < full.bytes
    parity = precisions_run.parity("litert_fp16")
    assert parity.passed and 0 < max(o.max_abs for o in parity.outputs) < 1e-2


@pytest.mark.xdist_group("litert")
def test_int8_is_full_integer_calibrated_and_shows_task_agreement(precisions_run):
    int8 = precisions_run.artifact("litert")
    assert int8.precision == "int8"
    inputs, outputs = signature(int8.path)
    assert inputs["input"][1] is outputs["logits"][1] is np.int8  # int8 down to the edges
    samples = precisions_run.results.calibration["count"]
    assert int8.meta["quantization"].startswith("static PT2E") and f"calibrated on {samples} samples" in \
        int8.meta["quantization"]
    parity = precisions_run.parity("litert")
    assert parity.task.task == "classification" and parity.task.passed, parity.task
    assert parity.passed
    row = precisions_run.bench("litert")
    assert row.executed_precision == "int8" and row.settings["quantized_io"]
    assert "top-1" in precisions_run.stdout  # the task agreement column of the printed table


def test_two_outputs_and_a_4d_map_pair_by_name_as_is(convert):
    run = convert("+graph=litert", "model=tiny_head", "bench.enabled=false", "~graph.steps.export",
                  "~graph.steps.simplify")
    assert run.returncode == 0, run.tail()
    _, outputs = signature(run.artifact("litert").path)
    assert outputs == {"tokens": ([1, 257, 6], outputs["tokens"][1]), "fmap": ([1, 6, 16, 16], outputs["fmap"][1])}
    parity = run.parity("litert")
    assert parity.passed and [o.name for o in parity.outputs] == ["tokens", "fmap"]
    assert max(o.max_abs for o in parity.outputs) < 1e-5


def test_an_image_and_a_vector_are_fed_by_name(convert):
    run = convert("+graph=litert", "model=tiny_two_inputs", "bench.enabled=false", "~graph.steps.export",
                  "~graph.steps.simplify")
    assert run.returncode == 0, run.tail()
    inputs, _ = signature(run.artifact("litert").path)
    assert {name: shape for name, (shape, _) in inputs.items()} == {"image": [1, 3, 32, 32], "features": [1, 8]}
    assert run.parity("litert").passed and run.parity("litert").task.passed


def test_a_model_litert_cannot_export_fails_its_step_and_the_onnx_branch_goes_on(convert, tmp_path):
    path = tmp_path / "tiny.pt"
    torch.jit.save(torch.jit.trace(TinyCNN().eval(), torch.randn(1, 3, 32, 32)), path)
    # its own cache: another test's identical TinyCNN trace would make simplify "cached", not run here
    run = convert("+graph=litert", "model=torchscript", f"model.path={path}", "model.size=32",
                  "bench.enabled=false", cache=tmp_path / "cache")
    assert run.returncode == 1  # a failed step fails the run ...
    step = run.steps()["litert"]
    assert step.status == "failed" and "\n" not in step.error
    assert step.error.startswith("litert-torch converts through torch.export, which takes no TorchScript module")
    assert run.statuses()["simplify"] == "ok" and run.parity("simplify").passed  # ... not its sibling branch
    assert "litert" not in {a.name for a in run.results.artifacts}


class SoftmaxHead(torch.nn.Module):
    """conv -> view -> transpose -> softmax -> conv, as in yolov8's DFL: litert-torch 0.10.0's PT2E annotation
    leaves this Softmax's output without the fixed 1/256 scale TFLite's int8 kernel requires, unless the step
    fixes it."""

    def __init__(self):
        super().__init__()
        self.spread, self.project = torch.nn.Conv2d(3, 64, 3, 2, 1), torch.nn.Conv2d(16, 1, 1)

    def forward(self, x):
        y = self.spread(x)
        return self.project(y.view(y.shape[0], 4, 16, -1).transpose(2, 1).softmax(1)).flatten(1)


def test_int8_gives_a_softmax_the_scale_litert_requires_and_the_file_runs(convert, tmp_path):
    path = tmp_path / "softmax_head.pt2"
    torch.export.save(torch.export.export(SoftmaxHead().eval(), (torch.randn(1, 3, 32, 32),)), path)
    run = convert("+graph=litert", "model=torchscript", f"model.path={path}", "model.size=32", "model.task=raw",
                  "opset=18", "precision=int8", "bench.enabled=false")  # the dynamo exporter takes a .pt2 as it is
    step = run.steps()["litert"]
    assert step.status == "ok", run.tail()  # before the fix: n/a, "SOFTMAX ... scale not near 1.f / 256"
    assert "1 softmax/sigmoid outputs at LiteRT's fixed scale 1/256" in run.artifact("litert").meta["quantization"]
    parity = run.parity("litert")
    assert parity.error is None and parity.executed_precision == "int8", parity  # LiteRT prepared and ran it


def test_tensor_names_spelled_as_identifiers():
    assert identifiers(["input.1", "Logits:0", "images"]) == {"input.1": "input_1", "Logits:0": "logits",
                                                              "images": "images"}
    with pytest.raises(StepFailed, match="'a.b', 'a_b'"):
        identifiers(["a.b", "a_b"])
    with pytest.raises(StepFailed, match="'0'"):
        identifiers(["0"])


@pytest.mark.slow
def test_yolov8n_fp32_finds_the_reference_boxes(convert):
    run = convert("+graph=litert", "model=yolov8n", "bench.enabled=false", "~graph.steps.export",
                  "~graph.steps.simplify")
    assert run.returncode == 0, run.tail()
    lite = run.artifact("litert")
    assert lite.outputs[0].shape == [1, 84, 8400] and lite.meta["conversion_seconds"] > 0
    parity = run.parity("litert")
    assert parity.passed and parity.task.task == "detection" and parity.task.f1 >= 0.99, parity.task
