"""Footprint from installed metadata: closures follow real requirements, sizes add up RECORD entries."""
from importlib import metadata

from bench.footprint import distribution_bytes, requirement_closure, runtime_footprint


def test_closure_follows_requirements_and_sizes_add_up():
    closure = requirement_closure(("onnxruntime",))
    assert "onnxruntime" in closure and "numpy" in closure  # onnxruntime requires numpy
    assert "torch" not in closure and "tensorflow" not in closure
    footprint = runtime_footprint("onnxruntime")
    expected = sum(distribution_bytes(name) for name in closure) / 2**20
    assert abs(footprint["installed_mb"] - expected) < 0.1
    assert footprint["version"] == metadata.version("onnxruntime") and footprint["runs_without_source"]


def test_distribution_bytes_matches_record_sizes():
    dist = metadata.distribution("omegaconf")
    recorded = sum(int(f.size) for f in dist.files if f.size)
    assert recorded <= distribution_bytes("omegaconf") < recorded + 1_000_000
    assert distribution_bytes("no-such-distribution-here") == 0


def test_runtimes_are_ordered_as_measured_here():
    sizes = {r: runtime_footprint(r)["installed_mb"] for r in ("torch", "onnxruntime", "openvino", "tflite")}
    assert sizes["torch"] > sizes["openvino"] > sizes["onnxruntime"] > 0
    assert not runtime_footprint("torch")["runs_without_source"]
