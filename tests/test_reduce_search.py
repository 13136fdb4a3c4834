"""tools.reduce's parts that need no converter: cutting a graph (the cut runs in ONNX Runtime and computes what the
whole graph computed there), the search (bisection, then one end node at a time), and its one-line refusals."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from pipeline.results import ParityEntry, RunResults, StepRecord
from tools import reduce as reduce_tool
from tools.reduce_search import first_failing, last_failing, minimise
from tools.subgraph import Graph, tensor_values


def chain_model(path, length: int = 6) -> list[str]:
    """x -> Relu -> Mul(2) -> Relu -> ... (`length` nodes, a Constant among them) and a side branch read by the
    last node; the node names."""
    nodes = [helper.make_node("Constant", [], ["two"], name="two", value=numpy_helper.from_array(
        np.array(2.0, np.float32)))]
    previous = "x"
    for i in range(length):
        op = ("Relu", "Mul", "Sigmoid")[i % 3]
        inputs = [previous, "two"] if op == "Mul" else [previous]
        nodes.append(helper.make_node(op, inputs, [f"t{i}"], name=f"{op}_{i}"))
        previous = f"t{i}"
    nodes.append(helper.make_node("Shape", ["x"], ["shape"], name="Shape_side"))
    nodes.append(helper.make_node("Reshape", [previous, "shape"], ["y"], name="Reshape_last"))
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return [n.name for n in nodes]


def test_a_cut_runs_and_computes_what_the_whole_graph_computed(tmp_path):
    chain_model(tmp_path / "chain.onnx")
    graph = Graph(str(tmp_path / "chain.onnx"))
    x = np.array([[-1.0, 0.5, 2.0, -3.0]], np.float32)
    values = tensor_values(str(tmp_path / "chain.onnx"), {"x": x})
    middle = {i for i, n in enumerate(graph.nodes) if n.name in ("Mul_1", "Sigmoid_2", "Relu_3", "Mul_4")}
    cut = graph.cut(middle)
    assert cut.inputs == ("t0",) and cut.outputs == ("t4",)  # the Constant `two` follows the Muls it feeds
    assert [graph.nodes[i].op_type for i in cut.nodes] == ["Constant", "Mul", "Sigmoid", "Relu", "Mul"]
    model, fed = graph.build(cut, values)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (result,) = session.run(None, {fed["t0"]: values["t0"]})
    np.testing.assert_allclose(result, values["t4"], rtol=1e-6)
    # the last node's integer input (a shape) is frozen as a constant, not fed
    last = graph.cut({i for i, n in enumerate(graph.nodes) if n.name == "Reshape_last"})
    model, fed = graph.build(last, values)
    assert list(fed) == ["t5"] and "shape" in {i.name for i in model.graph.initializer}


def test_names_a_converter_could_not_take_are_replaced(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    nodes = [helper.make_node("Relu", ["x"], ["/a/Relu:0"], name="/a/Relu"),
             helper.make_node("Neg", ["/a/Relu:0"], ["/b/Neg_output_0"], name="/b/Neg")]
    out = helper.make_tensor_value_info("/b/Neg_output_0", TensorProto.FLOAT, [2])
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [out])), str(tmp_path / "m.onnx"))
    graph = Graph(str(tmp_path / "m.onnx"))
    values = tensor_values(str(tmp_path / "m.onnx"), {"x": np.array([1.0, -1.0], np.float32)})
    model, fed = graph.build(graph.cut({1}), values)
    assert fed == {"/a/Relu:0": "a_Relu_0"}
    assert [o.name for o in model.graph.output] == ["b_Neg_output_0"] and model.graph.node[0].input[0] == "a_Relu_0"


def test_the_search_keeps_what_the_failure_needs_and_proves_no_end_node_can_go(tmp_path):
    names = chain_model(tmp_path / "chain.onnx", length=9)
    graph = Graph(str(tmp_path / "chain.onnx"))
    needed = {names.index("Relu_3"), names.index("Mul_4")}  # "the converter" fails only on these two together
    tried = []

    class Outcome:
        def __init__(self, fails):
            self.fails = fails

    def check(nodes):
        tried.append(frozenset(nodes))
        return Outcome(needed <= set(nodes))

    found = minimise(graph, check)
    assert found.kept == needed and not found.stopped
    assert {graph.name(i) for i, _ in found.proof} == {"Relu_3", "Mul_4"}
    assert all(not outcome.fails for _, outcome in found.proof)  # without either end node it passes
    assert len(set(tried)) < 2 * len(graph.real)  # bisection, not one node at a time
    # with the failing node as a hint, each bisection starts there
    hinted = []
    found = minimise(graph, lambda nodes: hinted.append(1) or Outcome(needed <= set(nodes)),
                     hint=names.index("Mul_4"))
    assert found.kept == needed


def test_bisection_finds_the_boundary_and_tries_the_guess_first():
    seen = []

    def fails_from(k):
        return lambda i: seen.append(i) or i >= k

    assert first_failing(100, fails_from(37)) == 37
    seen.clear()
    assert first_failing(100, fails_from(37), guess=37) == 37 and seen == [37, 36]
    seen.clear()
    assert last_failing(100, lambda j: seen.append(j) or j <= 61, guess=61) == 61 and seen == [61, 62]
    assert last_failing(1, lambda j: True) == 0


def test_bad_run_dirs_and_artifacts_are_refused_in_one_line(tmp_path, capsys):
    assert reduce_tool.main([str(tmp_path), "tf"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path} is not a run directory: it has no results.json"
    results = RunResults(graph="tflite", model="m", steps=[
        StepRecord(name="simplify", kind="onnx_simplify", input="model", status="ok"),
        StepRecord(name="tf", kind="onnx_to_tf", input="simplify", status="failed", error="boom"),
        StepRecord(name="tflite_fp32", kind="tf_to_tflite", input="tf", status="skipped", error="input 'tf' failed")],
        parity=[ParityEntry(artifact="simplify", reference="model", precision="fp32", passed=True)])
    results.save(tmp_path)
    for artifact, line in [
        ("tflite", f"error: {tmp_path} has no step 'tflite'; its steps: simplify, tf, tflite_fp32"),
        ("simplify", f"error: 'simplify' did not fail in {tmp_path} (step ok, parity passed): nothing to reduce"),
        ("tflite_fp32", f"error: 'tflite_fp32' did not run in {tmp_path} (input 'tf' failed): reduce the step "
                        "that failed"),
        ("tf", "error: 'tf' is not a step of the run's graph: only conversions of an ONNX can be reduced")]:
        assert reduce_tool.main([str(tmp_path), artifact]) == 2
        assert capsys.readouterr().err.strip() == line
