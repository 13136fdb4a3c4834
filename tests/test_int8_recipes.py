"""Quantization recipes: the accuracy-aware ONNX Runtime int8 step tries each calibration method (min-max,
percentile, entropy) with every node int8, judged on the calibration samples, and keeps the one that agrees best.
In-process, on a four-node classifier whose calibration set holds one outlier pixel: min-max stretches the first
activation's 8-bit range over it, percentile clips it."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from converters import onnx_precision
from converters.step_io.step_inputs import StepInputs, TaskTarget
from core.artifact import Artifact, TensorSpec

SIZE = 64  # 32 samples x 3 x 64 x 64 values: one outlier is under percentile's clipped 0.001%


def _classifier(tmp_path) -> Artifact:
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(size=(8, 3, 3, 3)).astype(np.float32), "w"),
               numpy_helper.from_array((rng.normal(size=(8 * SIZE * SIZE, 10)) * 0.1).astype(np.float32), "g")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "g"], ["logits"], name="fc")]
    samples = np.random.default_rng(1).normal(size=(32, 1, 3, SIZE, SIZE)).astype(np.float32)
    samples[0, 0, 0, 4, 4] = 100.0  # one pixel of one sample
    return _saved(tmp_path, "classifier", nodes, weights, samples)


def _saved(tmp_path, name: str, nodes: list, weights: list, calibration: np.ndarray) -> Artifact:
    """The graph x [1, 3, H, W] -> logits [1, 10] as an ONNX file, and its calibration set beside it."""
    shape = list(calibration.shape[1:])
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], weights)
    path = tmp_path / f"{name}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    np.savez(tmp_path / "calibration.npz", x=calibration)
    return Artifact(name=name, format="onnx", path=str(path), precision="fp32",
                    inputs=[TensorSpec("x", shape, "NCHW")], outputs=[TensorSpec("logits", [1, 10])]).seal()


def _int8(tmp_path, source, judged: bool, **options) -> Artifact:
    aim = TaskTarget({"task": "classification"}, {}, 0.99) if judged else None
    run = StepInputs(calibration=str(tmp_path / "calibration.npz"), accuracy=aim)
    out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
    out.mkdir()
    options = onnx_precision.Options(precision="int8", float_tail=False, min_speedup=0, max_float_nodes=2, **options)
    (made,) = onnx_precision.convert(source, options, run, out)
    return made


def test_the_recipe_that_agrees_best_is_kept_and_recorded(tmp_path):
    made = _int8(tmp_path, _classifier(tmp_path), judged=True)
    search = made.meta["accuracy_aware"]
    recipes = search["recipes"]
    assert list(recipes) == ["minmax", "percentile", "entropy"]  # each tried, in this order
    assert recipes["percentile"] > recipes["minmax"]  # the outlier costs min-max agreement
    assert search["recipe"] == made.meta["calibration"] == max(recipes, key=recipes.get) == "percentile"
    assert search["plain_agreement"] == pytest.approx(recipes["percentile"], abs=1e-4)
    # the file is the chosen recipe's: the first activation's scale is percentile's, not min-max's (larger)
    scales = {i.name: float(numpy_helper.to_array(i)) for i in onnx.load(made.path).graph.initializer
              if i.name == "x_scale"}
    # (min-max with every node int8: a search below the target may keep the first Conv in float, x then unscaled)
    everything = _int8(tmp_path, _classifier(tmp_path), judged=False)
    minmax_scale = next(float(numpy_helper.to_array(i)) for i in onnx.load(everything.path).graph.initializer
                        if i.name == "x_scale")
    assert scales["x_scale"] < minmax_scale
    minmax = _int8(tmp_path, _classifier(tmp_path), judged=True, calibration="minmax")
    assert list(minmax.meta["accuracy_aware"]["recipes"]) == ["minmax"]  # a recipe given is the only one tried


def test_without_a_judge_min_max_is_used_and_nothing_is_tried(tmp_path):
    made = _int8(tmp_path, _classifier(tmp_path), judged=False)
    assert made.meta["calibration"] == "minmax" and "accuracy_aware" not in made.meta


def _shifted_conv(tmp_path) -> Artifact:
    """x -> Conv (outputs mostly positive, a negative tail from its bias) -> Flatten -> MatMul: the conv's output
    is a signed activation whose range is far from symmetric."""
    rng = np.random.default_rng(0)
    size = 16
    mixed = rng.normal(size=(8 * size * size, 10))
    weights = [numpy_helper.from_array(np.abs(rng.normal(size=(8, 3, 3, 3))).astype(np.float32) / 10, "w"),
               numpy_helper.from_array(np.full(8, -0.5, np.float32), "b"),
               numpy_helper.from_array(((mixed - mixed.mean(axis=0)) * 0.1).astype(np.float32), "g")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Flatten", ["c"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "g"], ["logits"], name="fc")]
    return _saved(tmp_path, "shifted", nodes, weights, rng.random(size=(16, 1, 3, size, size)).astype(np.float32))


def _conv_output_range(ir: str) -> tuple[float, float]:
    """The FakeQuantize range NNCF put on the conv's output (the MatMul's input) in the IR written."""
    from pathlib import Path

    import openvino as ov

    model = ov.Core().read_model(str(next(Path(ir).glob("*.xml"))))
    fq = next(op for op in model.get_ordered_ops() if op.get_type_name() == "FakeQuantize"
              and op.input_value(0).get_node().get_type_name() != "Parameter"
              and op.output(0).get_target_inputs().pop().get_node().get_type_name() != "Convolution")
    low, high = (float(fq.input_value(i).get_node().get_data().ravel()[0]) for i in (1, 2))
    return low, high


def test_openvino_tries_each_preset_and_the_one_given_reaches_nncf(tmp_path):
    from converters import onnx_to_openvino

    source = _shifted_conv(tmp_path)
    aim = TaskTarget({"task": "classification"}, {}, 0.5)
    run = StepInputs(calibration=str(tmp_path / "calibration.npz"), accuracy=aim)
    made = {}
    for preset in ("auto", "performance", "mixed"):
        (tmp_path / preset).mkdir()
        options = onnx_to_openvino.Options(precision="int8", min_speedup=0, preset=preset)
        (made[preset],) = onnx_to_openvino.convert(source, options, run, tmp_path / preset)
    search = made["auto"].meta["accuracy_aware"]
    assert list(search["recipes"]) == ["performance", "mixed"]  # each tried, in this order
    best = max(search["recipes"].values())
    assert search["recipe"] == made["auto"].meta["preset"] == next(p for p, a in search["recipes"].items() if a == best)
    assert list(made["mixed"].meta["accuracy_aware"]["recipes"]) == ["mixed"]  # a preset given is the only one tried
    # symmetric (performance) puts the signed activation in [-a, a]; asymmetric (mixed) follows its own range
    low, high = _conv_output_range(made["performance"].path)
    assert low == pytest.approx(-high, rel=0.02)
    low, high = _conv_output_range(made["mixed"].path)
    assert -high * 0.9 < low < 0


def test_where_an_int8_files_time_goes_is_read_from_its_profile(tmp_path):
    """What a "not worth it" reason ends with: ONNX Runtime's profile of the int8 file, its node time split into
    converting between int8 and float (the Q/DQ borders), int8 ops and float ops."""
    import re

    from converters.int8.quantize_onnxruntime import _profiled

    made = _int8(tmp_path, _classifier(tmp_path), judged=False)
    sample = {"x": np.load(tmp_path / "calibration.npz")["x"][1]}
    line = _profiled(made.path, sample, str(tmp_path / "classifier.onnx"))
    shares = {part: int(share) for share, part in re.findall(r"(\d+)% (converting int8<->float|in int8 ops|in float "
                                                             r"ops)", line)}
    assert line.startswith("its profile (") and " against fp32's " in line, line
    assert set(shares) >= {"converting int8<->float", "in int8 ops"}, line
    assert 97 <= sum(shares.values()) <= 103, line  # every node counted once (rounded shares)


def test_a_histogram_calibration_takes_only_the_samples_memory_holds(tmp_path, monkeypatch):
    """onnxruntime's percentile and entropy calibrators keep every sample's every tensor until the end (PP-OCRv4's
    detector at 640x640: 128 pages took 24 GB and the kernel killed the step): they take as many samples as fit."""
    from converters.int8 import quantize_onnxruntime

    source = _classifier(tmp_path)
    assert _int8(tmp_path, source, judged=False, calibration="percentile").meta["calibration_samples"] == 32
    monkeypatch.setattr(quantize_onnxruntime, "MEMORY_SHARE", 1e-12)  # as if memory held one sample's tensors
    made = _int8(tmp_path, source, judged=False, calibration="percentile")
    assert made.meta["calibration"] == "percentile" and made.meta["calibration_samples"] == 1
    minmax = _int8(tmp_path, source, judged=False, calibration="minmax")
    assert minmax.meta["calibration_samples"] == 32  # min-max: every sample, as before (no histograms to copy)
