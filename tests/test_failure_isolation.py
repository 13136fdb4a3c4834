"""A step that crashes, hangs, is rejected by its tool or converts wrongly is recorded; siblings finish and are
measured; nothing half-written survives. The FAILURE shared run has them all in one graph; the wrong
conversion is a run of its own (its parity failure is localized to the node)."""
from pathlib import Path

import pytest

from tests.conftest import FAST

pytestmark = pytest.mark.xdist_group("failure_run")
TF_ARTIFACTS = ("tf", "tflite_fp32", "tflite_fp16")


def test_segfaulting_and_hanging_steps_are_recorded_and_siblings_complete(failure_run, cache_dir):
    assert failure_run.returncode == 1, failure_run.tail()
    steps = failure_run.steps()
    assert steps["crash"].status == "failed" and steps["crash"].error == "crashed (SIGABRT)"
    assert steps["stuck"].status == "failed" and steps["stuck"].error == "timed out"
    assert steps["after_crash"].status == "skipped" and steps["after_crash"].error == "input 'crash' failed"
    assert steps["openvino"].status in ("ok", "cached")  # the sibling branch converted ...
    results = failure_run.results
    assert {b.artifact for b in results.bench} == {"model", "simplify", "openvino"}  # ... and was measured
    assert all(b.status == "ok" for b in results.bench)
    assert all(p.passed for p in results.parity)
    assert not {"crash", "stuck", "after_crash"} & {a.name for a in results.artifacts}
    assert not list(cache_dir.rglob("half_written.onnx"))  # the crashed step's partial output is gone
    assert results.status == "failed"


def test_failing_tf_branch_leaves_openvino_branch(failure_run):
    steps = failure_run.steps()
    assert steps["tf"].status == "failed"
    assert steps["tf"].error == "onnx2tf exited with code 2: error: unrecognized arguments: --no-such-flag"
    assert "usage:" in Path(steps["tf"].log).read_text()  # the step's log has onnx2tf's whole output
    assert steps["tflite_fp32"].status == steps["tflite_fp16"].status == steps["tflite_int8"].status == "skipped"
    assert steps["onnx_lowp"].status == "n/a" and "fp32" in steps["onnx_lowp"].reason  # n/a is not a failure
    assert failure_run.parity("openvino").passed and failure_run.bench("openvino").status == "ok"
    assert not {a.name for a in failure_run.results.artifacts} & set(TF_ARTIFACTS)


def test_broken_conversion_is_localized_to_the_altered_node(failure_run, convert):
    """A converter bug on purpose (tests.steps.perturb negates one output channel of the second Conv). After the
    FAILURE run (`failure_run`): its model, export, simplify and openvino conversions come from the cache."""
    run = convert("+graph=openvino", *FAST, "bench.enabled=false",
                  "+graph.steps.broken.kind=tests.steps.perturb", "+graph.steps.broken.input=simplify",
                  "+graph.steps.broken_ir.kind=onnx_to_openvino", "+graph.steps.broken_ir.input=broken")
    assert run.returncode == 1, run.tail()
    node = run.artifact("broken").meta["perturbed_node"]
    broken = run.parity("broken")
    assert not broken.passed
    assert broken.divergence["node"] == node and broken.divergence["op_type"] == "Conv"
    # the IR made from the broken ONNX is traced back past it, to the last ONNX that passed
    assert run.parity("broken_ir").divergence["node"] == node
    assert run.parity("broken_ir").divergence["against"] == "simplify"
    assert all(run.parity(name).passed for name in ("export", "simplify", "openvino"))
    assert "first divergence" in run.output
