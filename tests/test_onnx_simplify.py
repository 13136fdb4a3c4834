"""onnx_simplify: node counts before/after and onnxsim's own check are recorded; parity holds."""
import onnx
import pytest

pytestmark = pytest.mark.xdist_group("all_run")


def test_simplify_records_node_counts(all_run):
    simplify = all_run.artifact("simplify")
    meta = simplify.meta
    assert meta["onnxsim_check"] is True
    assert 0 < meta["nodes"] <= meta["nodes_before"]
    assert meta["nodes"] == len(onnx.load(simplify.path).graph.node)
    assert meta["nodes_before"] == len(onnx.load(all_run.artifact("export").path).graph.node)
    assert all_run.parity("simplify").passed
