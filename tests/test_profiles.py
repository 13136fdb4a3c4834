"""bench.profile: per-node profiles from the runtimes' own profilers, on real artifacts of the tiny model.

One small run with bench.profile=true (its results.json and report.md carry the profiles); the profile hooks
then run here, in this process, on that run's ONNX and OpenVINO IR, and on an int8 file quantized here from the
run's simplified ONNX with the onnx_lowp step's defaults. No timed assertions: times are only checked to exist.
"""
import json

import numpy as np
import pytest

import runtimes
from converters import onnx_precision
from converters.step_inputs import StepInputs
from pipeline.results import load_results
from report.profiles import profile_section
from runtimes.base import Settings
from runtimes.profiling import OnnxNames, executed_precision, type_name
from tests.conftest import FAST, composed, run_convert

pytestmark = pytest.mark.xdist_group("profile")  # one worker makes the run every test here reads
PROFILE_RUN = ["+graph=openvino", *FAST, "bench.profile=true"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, cache_dir, bench_lock):
    done = run_convert(*PROFILE_RUN, run_dir=tmp_path_factory.mktemp("profile") / "run", cache=cache_dir,
                       lock=bench_lock)
    assert done.returncode == 0, done.tail()
    return done


@pytest.fixture(scope="module")
def batch(run) -> dict:
    with np.load(run.dir / "inputs.npz") as data:
        return {"input": data["input"][0]}  # the first call


def check_profile(profile: dict | object, runs: int) -> list:
    """The invariants every available profile keeps; its nodes."""
    data = profile if isinstance(profile, dict) else profile.model_dump()
    assert data["available"] and data["runs"] == runs and data["nodes"]
    nodes = data["nodes"]
    assert data["nodes_ms"] > 0 and data["run_ms"] > 0
    assert [n["ms"] for n in nodes] == sorted((n["ms"] for n in nodes), reverse=True)  # slowest first
    assert sum(n["share"] for n in nodes) == pytest.approx(1.0)
    assert sum(n["ms"] for n in nodes) == pytest.approx(data["nodes_ms"])
    assert all(n["name"] and n["op_type"] and n["precision"] != "?" for n in nodes)
    return nodes


def test_bench_profile_goes_into_results_json_and_report_md(run):
    assert composed()["bench"]["profile"] is False  # off unless asked
    rows = {row["artifact"]: row for row in run.data["bench"]}
    for name, runtime in (("simplify", "onnxruntime"), ("openvino", "openvino")):
        assert rows[name]["runtime"] == runtime
        check_profile(rows[name]["profile"], runs=10)
    assert rows["model"]["profile"] == {"available": False,
                                        "reason": "convgraph has no per-node profile hook for PyTorch"}
    results = load_results(run.dir)  # through the schema: the typed field reads back
    assert next(b for b in results.bench if b.artifact == "openvino").profile.nodes[0].share > 0
    report = (run.dir / "report.md").read_text()
    section = report[report.index("## Per-node profiles (bench.profile)"):]
    assert "### ONNX Runtime `simplify` (fp32)" in section and "### OpenVINO `openvino` (fp32)" in section
    assert "- by executed precision: fp32 100.0%" in section
    assert "### Across runtimes (joined on ONNX node names)" in section
    joined = section[section.index("### Across"):]
    assert "| /features/features.0/Conv " in joined and "| - " not in joined  # every fp32 node found in OpenVINO
    assert "PyTorch `model` (fp32): no profile: convgraph has no per-node profile hook for PyTorch" in section
    for row in results.bench:  # without profiles the report has no such section
        row.profile = None
    assert profile_section(results) == []


def test_report_html_shows_the_same_profiles(run):
    from tests.test_report_html import Page

    page = Page((run.dir / "report.html").read_text())
    assert "Per-node profiles (bench.profile)" in page.headings
    assert {"ONNX Runtime simplify (fp32)", "OpenVINO openvino (fp32)"} <= set(page.headings)  # `x` as <code>
    nodes = page.table("node", "op type", "share", "executes in", "ONNX node(s)")
    first = next(b for b in load_results(run.dir).ok_bench() if b.profile.available)  # the page's first table
    slowest = first.profile.nodes[0]
    assert nodes[0]["op type"] == slowest.op_type and nodes[0]["ms"] == f"{slowest.ms:.3f}"
    joined = page.table("ONNX node", "OpenVINO openvino ms")
    assert joined and all(row["OpenVINO openvino ms"] != "-" for row in joined)


def test_onnxruntime_profile_names_every_onnx_node(run, batch):
    simplify = run.artifact("simplify")
    nodes = check_profile(runtimes.get("onnxruntime").profile(simplify, Settings(threads=1), batch, 3), runs=3)
    names = OnnxNames(simplify.path)
    covered = {o for n in nodes for o in n["onnx_nodes"]}
    assert covered == set(names.op)  # each ONNX node is in some executed node (Conv+Relu fused: both)
    convs = [n for n in nodes if n["op_type"] in ("Conv", "FusedConv")]
    assert len(convs) == 2 and all(n["onnx_nodes"][0].endswith("/Conv") for n in convs)
    assert {n["precision"] for n in nodes} == {"fp32"} and {n["kernel"] for n in nodes} == {"CPU"}


def test_openvino_profile_joins_onto_the_onnx_it_came_from(run, batch):
    simplify, ir = run.artifact("simplify"), run.artifact("openvino")
    nodes = check_profile(runtimes.get("openvino").profile(ir, Settings(threads=1), batch, 3, simplify.path), runs=3)
    convs = [n for n in nodes if n["op_type"] == "Convolution"]
    assert len(convs) == 2
    assert all(n["precision"] == "fp32" and n["kernel"].endswith("_f32") for n in convs)  # hint f32: no bf16
    assert {"/features/features.0/Conv", "/features/features.2/Relu"} <= set(convs[0]["onnx_nodes"]) | \
        set(convs[1]["onnx_nodes"])  # the ReLU fused into its convolution
    assert {o for n in nodes for o in n["onnx_nodes"]} <= set(OnnxNames(simplify.path).op)
    unnamed = runtimes.get("openvino").profile(ir, Settings(threads=1), batch, 1)  # no ONNX given: no join
    assert not any(n["onnx_nodes"] for n in unnamed["nodes"])


def test_int8_profile_says_which_kernels_run_int8(run, batch, tmp_path):
    simplify = run.artifact("simplify")
    np.savez(tmp_path / "calibration.npz", input=np.load(run.dir / "inputs.npz")["input"])
    (int8,) = onnx_precision.convert(simplify, onnx_precision.Options(precision="int8"),
                                     StepInputs(calibration=str(tmp_path / "calibration.npz")), tmp_path)
    nodes = check_profile(runtimes.get("onnxruntime").profile(int8.seal(), Settings(threads=1), batch, 3), runs=3)
    by_onnx = {o: n for n in nodes for o in n["onnx_nodes"]}
    for conv in ("/features/features.0/Conv", "/features/features.3/Conv"):  # the fp32 file's names join
        assert by_onnx[conv]["precision"] == "int8" and by_onnx[conv]["op_type"].startswith("QLinear")
    quantize = [n for n in nodes if n["op_type"] == "QuantizeLinear"]
    assert quantize and {n["precision"] for n in quantize} == {"fp32->int8"}


def test_tflite_says_in_one_line_why_it_has_no_profile(run, batch):
    profile = runtimes.get("tflite").profile(run.artifact("simplify"), Settings(), batch, 3)
    assert profile["available"] is False and "\n" not in profile["reason"]
    assert profile["reason"].startswith("ai-edge-litert ") and "no per-op profiler" in profile["reason"]


def test_precision_and_name_rules_on_the_tiny_onnx(run):
    assert executed_precision(["uint8", "float", "uint8"], ["uint8"]) == "int8"
    assert executed_precision(["float"], ["uint8"]) == "fp32->int8"
    assert executed_precision(["int8"], ["float"]) == "int8->fp32"
    assert executed_precision([], ["float16"]) == "fp16"
    assert [type_name(t) for t in ("I8", "u8", "f32", "bf16", "FP32")] == ["int8", "int8", "fp32", "bf16", "fp32"]
    names = OnnxNames(run.artifact("simplify").path)
    assert names.resolve("/features/features.0/Conv_token_1") == "/features/features.0/Conv"  # ORT rewrite
    assert names.resolve("/features/features.2/Relu_output_0_nchwc") == "/features/features.2/Relu"  # its output
    assert names.resolve("/features/features.0/Conv/WithoutBiases") == "/features/features.0/Conv"  # OpenVINO
    assert names.resolve("/features/features.2/Relu/fq_output_0") == "/features/features.2/Relu"
    assert names.resolve("logits") == "/head/Gemm"  # a layer named after its output tensor
    assert names.resolve("Transpose_token_3") is None and names.resolve("input") is None  # inserted; an input
    assert names.upstream("/features/features.2/Relu", {"Conv"}) == "/features/features.0/Conv"
    assert json.loads(json.dumps(OnnxNames(None).nodes(["x"]))) == []
