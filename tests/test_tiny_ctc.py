"""model=tiny_ctc, a CTC recognizer in miniature ([N, 1, 32, W] grayscale line -> [N, W/4, 11] log-probabilities),
through every runtime: each artifact is judged on the strings it reads, report.md shows them beside the reference's
with the CER, and TFLite fp16, whose numbers differ, passes because it reads the same strings."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow
FAST = ["bench.warmup=1", "bench.runs=3"]


def test_every_runtime_is_judged_on_the_strings_it_reads(convert):
    # without the litert road (torch -> TFLite straight: its own tests) and onnx_lowp (n/a at fp32): not judged here
    run = convert("+graph=all", "model=tiny_ctc", *FAST, "~graph.steps.litert", "~graph.steps.onnx_lowp")
    assert run.returncode == 0, run.tail()
    assert run.feeds() == [{"name": "line", "kind": "image", "shape": [1, 1, 32, 128], "dtype": "float32",
                            "layout": "NCHW", "batch_axis": 0}]
    processing = run.results.processing
    assert processing["channels"] == "GRAY" and processing["task"] == "sequence"
    assert processing["postprocess"]["symbols"] == ["<blank>", *"0123456789"]
    assert run.recorded_outputs("model")[0].shape == (len(run.results.inputs.images), 1, 32, 11)  # [N, *output]
    checked = ["export", "simplify", "openvino", "tf", "tflite_fp32", "tflite_fp16"]
    for name in checked:
        parity = run.parity(name)
        task = parity.task
        assert parity.passed and task.task == "sequence" and task.agreement == task.exact_match == 1.0, (name, task)
        assert task.cer == 0.0 and len(task.decoded) == 3 and task.decoded[0]["reference"]
    fp16 = run.parity("tflite_fp16")
    assert fp16.precision == "fp16" and fp16.worst_abs() > 1e-4  # its numbers are not the reference's
    assert run.bench("tflite_fp16").layouts == {"line": "NHWC"}
    report = (run.dir / "report.md").read_text()
    strings = report[report.index("## Strings read"):]
    first = run.parity("tflite_fp16").task.decoded[0]["reference"]
    for name in checked:
        assert f"| {name} " in strings
    assert f"`{first}`" in strings and "strings 100%, CER 0.000" in report
    assert "strings 100%, CER 0.000" in run.stdout  # the table's task column


def test_a_colour_line_keeps_its_colours(convert):
    run = convert("+graph=openvino", "model=tiny_ctc", "bench.enabled=false", "~graph.steps.onnx_lowp",
                  "model.inputs=[{name:line,shape:[batch,3,32,width],dtype:float32}]")
    assert run.returncode == 0, run.tail()
    assert "channels" not in run.results.processing and run.feeds()[0]["shape"] == [1, 3, 32, 128]  # RGB
    with np.load(run.dir / "inputs.npz") as data:
        lines = data["line"]
    # [calls, batch 1, 3 channels, H, W]: the photos' own colours
    assert lines.shape[2] == 3 and not np.array_equal(lines[:, :, 0], lines[:, :, 2])
    assert run.parity("openvino").passed and run.parity("openvino").task.exact_match == 1.0
