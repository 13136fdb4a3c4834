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
from converters.step_io.step_inputs import StepInputs
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


# Three .tflite files of one small CNN (conv+relu, strided conv+relu, a small transposed conv, mean, dense), made with
# TF's own converter in a child process (TF stays out of this one): fp32, fp16 weights, and int8 ops with float
# edges. TRANSPOSE_CONV's first input is its output shape (int32): not the precision it computes in.
TFLITE_FILES = """
import sys, numpy as np, tensorflow as tf
rng = np.random.default_rng(0)
w1, w2, wt = (tf.constant(rng.standard_normal(s).astype(np.float32) * 0.2)
              for s in ((3, 3, 3, 32), (3, 3, 32, 32), (3, 3, 4, 32)))
w3 = tf.constant(rng.standard_normal((4, 10)).astype(np.float32) * 0.2)

@tf.function(input_signature=[tf.TensorSpec([1, 128, 128, 3], tf.float32, name="x")])
def cnn(x):
    h = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME"))
    h = tf.nn.relu(tf.nn.conv2d(h, w2, 2, "SAME"))
    h = tf.nn.conv2d_transpose(h, wt, [1, 64, 64, 4], 1, "SAME")
    return tf.matmul(tf.reduce_mean(h, axis=[1, 2]), w3)

for precision in ("fp32", "fp16", "int8"):
    converter = tf.lite.TFLiteConverter.from_concrete_functions([cnn.get_concrete_function()], cnn)
    if precision == "fp16":
        converter.optimizations, converter.target_spec.supported_types = [tf.lite.Optimize.DEFAULT], [tf.float16]
    if precision == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([rng.standard_normal((1, 128, 128, 3)).astype(np.float32)]
                                                    for _ in range(8))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    open(f"{sys.argv[1]}/cnn_{precision}.tflite", "wb").write(converter.convert())
"""


@pytest.fixture(scope="module")
def tflite_files(tmp_path_factory) -> dict:
    import subprocess
    import sys

    from core.artifact import Artifact, TensorSpec

    folder = tmp_path_factory.mktemp("tflite")
    done = subprocess.run([sys.executable, "-c", TFLITE_FILES, str(folder)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return {p: Artifact(f"cnn_{p}", "tflite", str(folder / f"cnn_{p}.tflite"), p,
                        inputs=[TensorSpec("x", [1, 128, 128, 3])], outputs=[TensorSpec("logits", [1, 10])])
            for p in ("fp32", "fp16", "int8")}


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_tflite_profile_times_each_op_alone(tflite_files, precision):
    feed = {"x": np.random.default_rng(1).standard_normal((1, 128, 128, 3)).astype(np.float32)}
    profile = runtimes.get("tflite").profile(tflite_files[precision], Settings(threads=1), feed, 10)
    nodes = check_profile(profile, runs=10)
    by_type = {}
    for node in nodes:
        by_type.setdefault(node["op_type"], []).append(node)
    assert len(by_type["CONV_2D"]) == 2 and "FULLY_CONNECTED" in by_type and "MEAN" in by_type
    assert len(by_type["TRANSPOSE_CONV"]) == 1
    assert nodes[0]["op_type"] == "CONV_2D"  # 128x128x32x27 and 64x64x32x288 MACs: the convolutions take the time
    assert all(n["kernel"] in ("XNNPACK", "builtin") for n in nodes) and by_type["CONV_2D"][0]["kernel"] == "XNNPACK"
    assert all(n["ms"] > 0 and not n["onnx_nodes"] for n in nodes)  # no ONNX file given: nothing joined
    # the ops' sum against the whole model (isolated ops lose fusion, carry the call overhead): same magnitude
    assert 0.1 < profile["nodes_ms"] / profile["run_ms"] < 10
    assert f"their sum {profile['nodes_ms']:.3f} ms" in profile["note"] and "\n" not in profile["note"]
    if precision == "int8":
        assert {n["precision"] for n in by_type["CONV_2D"] + by_type["FULLY_CONNECTED"]} == {"int8"}
        assert [n["precision"] for n in by_type["QUANTIZE"]] == ["fp32->int8"]
        assert [n["precision"] for n in by_type["DEQUANTIZE"]] == ["int8->fp32"]
    else:
        assert {n["precision"] for n in nodes} == {"fp32"}  # fp16 weights, fp32 compute (XNNPACK on x86)
    if precision == "fp16":  # the weights' DEQUANTIZE runs inside their consumers' one-op models
        from ai_edge_litert.interpreter import Interpreter

        ops = Interpreter(model_path=tflite_files[precision].path)._get_ops_details()
        weights = sum(op["op_name"] == "DEQUANTIZE" for op in ops)
        assert weights >= 3 and "DEQUANTIZE" not in by_type and f"{weights} DEQUANTIZE" in profile["note"]


def test_a_one_op_model_computes_what_the_whole_model_did(tflite_files):
    """Each cut-out op (the int8 file: quantization parameters kept; fp16: with its weights' DEQUANTIZE), fed
    the recorded intermediates, writes exactly the tensor the whole model wrote."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.tools import flatbuffer_utils

    from runtimes.tflite_profile import cuts, one_op_model

    for precision in ("fp16", "int8"):
        path = tflite_files[precision].path
        model = flatbuffer_utils.read_model(path)
        subgraph = model.subgraphs[0]
        whole = Interpreter(model_path=path, experimental_preserve_all_tensors=True,
                            experimental_disable_delegate_node_fusion=True)
        whole.allocate_tensors()
        whole.set_tensor(subgraph.inputs[0], np.random.default_rng(2).standard_normal((1, 128, 128, 3), np.float32))
        whole.invoke()
        cut = 0
        for op, ops in cuts(model, subgraph):
            if ops is None:  # fp16 weights' DEQUANTIZE: in its consumers' models
                continue
            blob, order = one_op_model(model, subgraph, ops)
            alone = Interpreter(model_content=blob)
            alone.allocate_tensors()
            for detail, index in zip(alone.get_input_details(), order, strict=True):
                alone.set_tensor(detail["index"], whole.get_tensor(index))
            alone.invoke()
            output = alone.get_output_details()[0]["index"]
            np.testing.assert_array_equal(alone.get_tensor(output), whole.get_tensor(op.outputs[0]))
            cut += 1
        # 2 CONV_2D, TRANSPOSE_CONV, MEAN, FULLY_CONNECTED; int8: + the edges
        assert cut == {"fp16": 5, "int8": 7}[precision]


def test_reports_show_the_tflite_profile_and_its_note(run, tflite_files, tmp_path):
    """The run's OpenVINO row given the int8 file's TFLite profile: report.md and report.html show it like the
    others, with the note on how it was made."""
    from pipeline.records import Profile
    from report.html_page import write_run_page
    from tests.test_report_html import Page

    feed = {"x": np.random.default_rng(1).standard_normal((1, 128, 128, 3)).astype(np.float32)}
    profile = runtimes.get("tflite").profile(tflite_files["int8"], Settings(threads=1), feed, 3)
    results = load_results(run.dir)
    row = next(b for b in results.bench if b.artifact == "openvino")
    row.runtime, row.artifact, row.precision, row.executed_precision = "tflite", "tflite_int8", "int8", "int8"
    row.profile = Profile.model_validate(profile)  # the note goes through the schema
    section = "\n".join(profile_section(results))
    assert "### TensorFlow Lite `tflite_int8` (int8)" in section and f"Note: {profile['note']}." in section
    assert "| CONV_2D " in section and "| XNNPACK " in section
    page = Page(write_run_page(results, tmp_path).read_text())
    assert "TensorFlow Lite tflite_int8 (int8)" in page.headings
    nodes = [dict(zip(t["headers"], r, strict=True)) for t in page.tables if "op type" in t["headers"]
             for r in t["rows"] if r]  # every runtime's table: the TFLite one is not the first
    convs = [r for r in nodes if r["op type"] == "CONV_2D"]
    assert len(convs) == 2 and {(r["executes in"], r["kernel"]) for r in convs} == {("int8", "XNNPACK")}
    assert "one-op model" in (tmp_path / "report.html").read_text()


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


def test_only_a_change_to_or_from_int8_counts_as_an_int8_border():
    """where_the_time_went (the end of a "not worth it" reason): a kernel that reads an int32 shape is float work."""
    from converters.int8.search import where_the_time_went

    line = where_the_time_went({"nodes_ms": 1.0, "nodes": [{"precision": "int32->fp32", "share": 0.5},
                                                          {"precision": "fp32->int8", "share": 0.2},
                                                          {"precision": "int8", "share": 0.3}]})
    assert "20% converting int8<->float (1 node)" in line and "50% in float ops (1 node)" in line, line
