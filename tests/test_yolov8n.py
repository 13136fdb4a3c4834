"""yolov8n end to end through the openvino graph: every fp32 artifact finds the reference's boxes again."""
import pytest

pytestmark = pytest.mark.slow

YOLO = ["+graph=openvino", "model=yolov8n", "bench.warmup=1", "bench.runs=3"]


def test_yolov8n_detection_f1(convert):
    proc, results = convert(*YOLO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    fp32 = [p for p in results["parity"] if p["precision"] == "fp32" and p.get("outputs")]
    assert {p["artifact"] for p in fp32} >= {"export", "simplify", "openvino"}
    for entry in fp32:
        task = entry["task"]
        assert task["task"] == "detection" and task["reference_boxes"] > 0
        assert task["f1"] >= 0.9, (entry["artifact"], task)
        assert entry["passed"]
    assert results["artifacts"][0]["outputs"][0]["shape"] == [1, 84, 8400]
    rows = {b["artifact"]: b for b in results["bench"]}
    assert rows["openvino"]["status"] == "ok" and "boxes_per_image" in rows["openvino"]
    assert "task agreement" in proc.stdout and "F1 " in proc.stdout  # the printed table's column


def test_task_agreement_can_fail_the_run(convert):
    # Nothing agrees better than 100%: asking for more must fail parity and the run (conversions come cached).
    proc, results = convert(*YOLO, "validate.task.min_agreement.fp32=1.01", "bench.enabled=false")
    assert proc.returncode != 0
    failed = [p for p in results["parity"] if not p["passed"]]
    assert failed and all(p["task"]["passed"] is False for p in failed)
    assert "task agreement below 1.01" in proc.stdout + proc.stderr
