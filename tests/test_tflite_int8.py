"""tf_to_tflite int8, accuracy-aware: when quantizing everything falls below the target agreement, TFLite's
quantization debugger ranks the layers and the worst stay float (converters/int8/quantize_tflite.py). Real runs of small
models: a segmentation file whose int8 map misses pixels (a high target forces the search), and a model whose int8
DIV cannot run at all (the op type goes float)."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow
# what the search recovers, whatever its speed: whether int8 beats fp32 depends on the CPU and its load
# (tests/test_worth_it.py covers the speed rule)
ONE_STEP = ["precision=int8", "bench.enabled=false", "~graph.steps.tflite_fp32", "~graph.steps.tflite_fp16",
            "graph.steps.tflite_int8.min_speedup=0"]


def tiny_segmenter(path) -> None:
    """conv 3->8 + relu, conv 8->1, sigmoid: a one-channel probability map [1, 1, 32, 32], seeded weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {"w1": rng.standard_normal((8, 3, 3, 3)) * 0.3, "b1": np.zeros(8),
               "w2": rng.standard_normal((1, 8, 3, 3)) * 0.3, "b2": np.zeros(1)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["h"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Conv", ["r", "w2", "b2"], ["logit"], pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["logit"], ["mask"])]
    graph = helper.make_graph(nodes, "segmenter",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, 32, 32])],
                              [numpy_helper.from_array(w.astype(np.float32), name) for name, w in weights.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))


def tensor_dtypes(path: str) -> dict[str, str]:
    from ai_edge_litert.interpreter import Interpreter

    return {t["name"]: np.dtype(t["dtype"]).name for t in Interpreter(model_path=path).get_tensor_details()}


def test_a_high_target_keeps_the_worst_layers_in_float(convert, tmp_path):
    path = tmp_path / "segmenter.onnx"
    tiny_segmenter(path)
    run = convert("+graph=tflite", "model=onnx", f"model.path={path}", "model.task=segmentation",
                  "+model.postprocess={threshold:0.5}", "graph.steps.tflite_int8.target=0.999",
                  # onnx2tf takes the file itself (it simplifies its input on its own): no onnxsim step to check
                  "~graph.steps.simplify", "graph.steps.tf.input=model", *ONE_STEP)
    assert run.returncode == 0, run.tail()
    artifact = run.artifact("tflite_int8")
    aware = artifact.meta["accuracy_aware"]
    assert aware["target"] == 0.999 and aware["metric"] == "mean IoU" and aware["validation_samples"] > 0
    # the int8 map misses pixels at the threshold: below the target, so the search ran
    assert aware["plain_agreement"] < 0.999 and aware["tried"] and aware["tried"][0]["kept"] == 1
    assert aware["stopped"] == "target met" and aware["agreement"] >= 0.999
    # each candidate timed beside the float TFLite file, and the one made too
    assert all(t["speedup"] > 0 for t in aware["tried"]) and aware["speedup"] > 0
    kept = aware["kept_in_float"]
    ranked = [layer["node"] for layer in artifact.meta["ranking"]]
    assert kept and kept == ranked[: len(kept)]  # the worst first, named as the debugger names them
    errors = [layer["relative_error"] for layer in artifact.meta["ranking"]]
    assert errors == sorted(errors, reverse=True) and errors[0] > 0
    dtypes = tensor_dtypes(artifact.path)
    assert all(dtypes[node] == "float32" for node in kept)  # each kept layer's output is a float tensor
    assert artifact.meta["weights"].startswith("int8") and f"{len(kept)} layers" in artifact.meta["weights"]
    check = run.parity("tflite_int8")
    assert check.passed and check.executed_precision == "int8+fp32"
    assert check.task.agreement >= 0.999  # the parity photos are the calibration photos here


def test_an_int8_op_that_cannot_run_stays_float(convert):
    """tiny_two_inputs' GELU, as onnx2tf replaces it, divides: its int8 DIV refuses a divisor quantized to zero
    (LiteRT's div.cc), so the full-integer file cannot run. The search keeps every DIV float and the file runs."""
    # random weights: auto would not search; the op type's fallback is part of the search. A second int8 step asks
    # for 1000x its fp32's speed: n/a, and its reason ends with where its time went (the per-op profile)
    slow = [f"+graph.steps.tflite_slow.{key}={value}" for key, value in (
        ("kind", "tf_to_tflite"), ("input", "tf"), ("precision", "int8"), ("accuracy_aware", "true"),
        ("min_speedup", 1000))]
    run = convert("+graph=tflite", "model=tiny_two_inputs", "graph.steps.tflite_int8.accuracy_aware=true", *ONE_STEP,
                  *slow)
    assert run.returncode == 0, run.tail()
    refused = run.steps()["tflite_slow"]
    assert refused.status == "n/a" and refused.reason.startswith("not worth it: TensorFlow Lite int8"), refused
    assert "its profile (" in refused.reason and " against fp32's " in refused.reason, refused.reason
    artifact = run.artifact("tflite_int8")
    aware = artifact.meta["accuracy_aware"]
    assert aware["plain_agreement"] == 0.0 and "(DIV) failed to invoke" in aware["failed_to_run"][0]["error"]
    assert aware["ops_kept_in_float"] == ["DIV"] and aware["kept_in_float"] == []
    assert aware["stopped"] == "target met with every DIV op in float" and aware["agreement"] >= aware["target"]
    assert {"float32", "int8"} <= set(tensor_dtypes(artifact.path).values())  # int8 still, but for the DIVs
    check = run.parity("tflite_int8")
    assert check.passed and check.executed_precision == "int8+fp32"
