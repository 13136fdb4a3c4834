"""Graph walking: a graph config (a mapping of named steps, each naming the step it consumes) in dependency
order, the descendants a failure skips, cycles refused, and where a graph starts from a file."""
import pytest

from converters import tf_to_tflite
from core.errors import UserError
from pipeline.graph import descendants, resolve_steps, start_from
from tests.conftest import composed


def _steps(graph: str, *overrides: str):
    config = composed(*overrides, graph=graph)
    return resolve_steps(config["graph"]["steps"], config["steps"]["timeout_s"])


def test_the_all_graph_in_dependency_order():
    steps = _steps("all")
    names = [s.name for s in steps]
    # litert (torch -> TFLite by litert-torch) consumes the model, as the export does: both come first
    assert names == ["export", "litert", "simplify", "openvino", "onnx_lowp", "tf", "tflite_fp32", "tflite_fp16",
                     "tflite_int8"]
    for i, spec in enumerate(steps):  # every step after the one it consumes
        assert spec.input == "model" or names.index(spec.input) < i
    by_name = {s.name: s for s in steps}
    assert by_name["tf"].kind == "onnx_to_tf" and by_name["tf"].input == "simplify"
    assert by_name["tflite_int8"].when_precision == ["int8"] and by_name["tflite_fp32"].when_precision is None
    # the step's own options, not kind/input/...: its precision (conf/graph) and the int8 search's knobs, whose
    # defaults its Options holds (conf/step extends them)
    assert by_name["tflite_fp16"].options == {"precision": "fp16", "accuracy_aware": "auto", "target": None,
                                              "max_float_nodes": 32, "min_speedup": 1.0, "budget_s": 600}
    assert tf_to_tflite.Options(**by_name["tflite_fp16"].options) == tf_to_tflite.Options(precision="fp16")
    assert by_name["export"].options == {"opset": 17, "exporter": "auto", "dynamic_batch": None}
    assert {s.timeout_s for s in steps} == {1800.0}


def test_a_step_moved_or_added_on_the_command_line_runs_after_its_input():
    steps = _steps("openvino", "graph.steps.openvino.input=export", "+graph.steps.first.kind=onnx_simplify",
                   "+graph.steps.first.input=openvino", "+graph.steps.first.timeout_s=5")
    names = [s.name for s in steps]
    assert names.index("openvino") < names.index("first") and names.index("export") < names.index("openvino")
    assert next(s for s in steps if s.name == "first").timeout_s == 5.0


def test_descendants_are_what_a_failure_skips():
    steps = _steps("all")
    assert descendants(steps, "tf") == {"tflite_fp32", "tflite_fp16", "tflite_int8"}
    assert descendants(steps, "simplify") == {"openvino", "onnx_lowp", "tf", "tflite_fp32", "tflite_fp16",
                                             "tflite_int8"}
    assert descendants(steps, "openvino") == set()


def test_a_cycle_is_refused_naming_its_steps():
    steps = {"a": {"kind": "onnx_simplify", "input": "b"}, "b": {"kind": "onnx_simplify", "input": "a"},
             "c": {"kind": "onnx_simplify"}}
    with pytest.raises(UserError, match="^graph steps form a cycle: a, b$"):
        resolve_steps(steps, 10)


def test_a_graph_from_an_onnx_file_leaves_out_the_export():
    steps = start_from(_steps("all"), "onnx")
    by_name = {s.name: s for s in steps}
    assert "export" not in by_name and by_name["simplify"].input == "model"
    assert by_name["tf"].input == "simplify"  # the rest of the tree is unchanged
    assert [s.name for s in start_from(_steps("all"), "torch")][0] == "export"
