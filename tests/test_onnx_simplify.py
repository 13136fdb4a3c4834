"""onnx_simplify: node counts before/after and onnxsim's own check are recorded; parity holds."""
from tests.conftest import FAST


def test_simplify_records_node_counts(convert):
    proc, results = convert("+graph=openvino", *FAST, "bench.enabled=false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = next(a for a in results["artifacts"] if a["name"] == "simplify")["meta"]
    assert meta["onnxsim_check"] is True
    assert 0 < meta["nodes"] <= meta["nodes_before"]
    assert next(p for p in results["parity"] if p["artifact"] == "simplify")["passed"]
