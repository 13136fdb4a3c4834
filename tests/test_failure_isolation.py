"""A step that crashes, hangs or converts wrongly is recorded; siblings finish; nothing half-written survives."""
from tests.conftest import FAST


def _steps(results):
    return {s["name"]: s for s in results["steps"]}


def test_segfaulting_and_hanging_steps_are_recorded_and_siblings_complete(convert, tmp_path):
    cache_dir = tmp_path / "cache"
    proc, results = convert(
        "+graph=openvino", *FAST, f"cache.dir={cache_dir}",
        "+graph.steps.crash.kind=tests.steps.abort", "+graph.steps.crash.input=simplify",
        "+graph.steps.stuck.kind=tests.steps.hang", "+graph.steps.stuck.input=export", "+graph.steps.stuck.timeout_s=3",
        "+graph.steps.after_crash.kind=onnx_to_openvino", "+graph.steps.after_crash.input=crash")
    assert proc.returncode == 1
    steps = _steps(results)
    assert steps["crash"]["status"] == "failed" and steps["crash"]["error"] == "crashed (SIGABRT)"
    assert steps["stuck"]["status"] == "failed" and steps["stuck"]["error"] == "timed out"
    assert steps["after_crash"]["status"] == "skipped"
    assert steps["openvino"]["status"] in ("ok", "cached")  # the sibling branch converted ...
    assert {b["artifact"] for b in results["bench"]} == {"model", "simplify", "openvino"}  # ... and was benched
    assert all(p["passed"] for p in results["parity"])
    assert "crash" not in {a["name"] for a in results["artifacts"]}
    assert not list(cache_dir.rglob("half_written.onnx"))  # the crashed step's partial output is gone
    assert results["status"] == "failed"


def test_broken_conversion_is_localized_to_the_altered_node(convert):
    proc, results = convert("+graph=openvino", *FAST, "bench.enabled=false",
                            "+graph.steps.broken.kind=tests.steps.perturb", "+graph.steps.broken.input=simplify",
                            "+graph.steps.broken_ir.kind=onnx_to_openvino", "+graph.steps.broken_ir.input=broken")
    assert proc.returncode == 1
    parity = {p["artifact"]: p for p in results["parity"]}
    node = next(a for a in results["artifacts"] if a["name"] == "broken")["meta"]["perturbed_node"]
    assert not parity["broken"]["passed"]
    assert parity["broken"]["divergence"]["node"] == node
    # the IR made from the broken ONNX is traced back past it, to the last ONNX that passed
    assert parity["broken_ir"]["divergence"]["node"] == node
    assert parity["broken_ir"]["divergence"]["against"] == "simplify"
    assert "first divergence" in proc.stderr + proc.stdout
