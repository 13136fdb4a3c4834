"""yolov8n end to end through the openvino graph: every fp32 artifact finds the reference's boxes again, and a
task agreement nothing can reach fails the run."""
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("yolo")]

# One thread per runtime: the other test worker holds a core, and the reference's two PyTorch threads waiting
# for each other made it 20x slower (no test here asserts a speed).
YOLO = ["+graph=openvino", "model=yolov8n", "bench.warmup=1", "bench.runs=3", "bench.threads=1",
        "~graph.steps.onnx_lowp"]  # n/a at fp32: nothing to judge


def test_yolov8n_detection_f1(convert):
    run = convert(*YOLO)
    assert run.returncode == 0, run.tail()
    fp32 = [p for p in run.results.parity if p.precision == "fp32" and p.outputs]
    assert {p.artifact for p in fp32} >= {"export", "simplify", "openvino"}
    for entry in fp32:
        task = entry.task
        assert task.task == "detection" and task.reference_boxes > 0
        assert task.f1 >= 0.9, (entry.artifact, task)
        assert entry.passed
    assert run.results.artifacts[0].outputs[0].shape == [1, 84, 8400]
    assert run.artifact("export").meta["opset"] == 18 and run.artifact("export").meta["exporter"] == "dynamo"
    rows = {b.artifact: b for b in run.results.bench}
    assert rows["openvino"].status == "ok" and rows["openvino"].boxes_per_image
    assert "task agreement" in run.stdout and "F1 " in run.stdout  # the printed table's column


def test_task_agreement_can_fail_the_run(convert):
    # Nothing agrees better than 100%: asking for more must fail parity and the run (conversions come cached).
    run = convert(*YOLO, "validate.task.min_agreement.detection.fp32=1.01", "bench.enabled=false")
    assert run.returncode == 1
    failed = [p for p in run.results.parity if not p.passed]
    assert failed and all(p.task.passed is False and p.task.min_agreement == 1.01 for p in failed)
    assert all(o.passed for p in failed for o in p.outputs)  # the tensors were within tolerance: the task failed
    assert "task agreement below 1.01" in run.output
