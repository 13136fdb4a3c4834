"""Low precision judged by what it does: each part of an output on its own (a detector's boxes in pixels and its
scores in [0, 1]), each channel's cosine when channels differ in scale, the task agreement floor at every
precision in the selection whatever its other switches say, and random weights named where agreement is shown."""
from __future__ import annotations

import numpy as np
import pytest

from ship.selection import RANDOM_WEIGHTS, select, violations
from tests.test_selection import NO_LIMITS, row
from validators.parity import SCALE_SPREAD, Slice, channel_cosines, compare

INT8 = {"atol": None, "rtol": None, "cosine": 0.98}


def _head(rng, n=2, anchors=400) -> np.ndarray:
    """A YOLO-like head [n, 4 + 80, anchors]: boxes in pixels (0-640), scores in [0, 1]."""
    boxes = rng.uniform(0, 640, (n, 4, anchors))
    scores = rng.uniform(0, 1, (n, 80, anchors)) ** 8  # mostly small, a few confident
    return np.concatenate([boxes, scores], axis=1).astype(np.float32)


def test_scores_all_wrong_pass_a_whole_tensor_cosine_but_fail_their_slice():
    rng = np.random.default_rng(0)
    ref = _head(rng)
    collapsed = ref.copy()
    collapsed[:, 4:] = 0.0  # int8 scores collapsed to zero (one scale for pixels and probabilities)
    whole = compare("int8", "model", "int8", [ref], [collapsed], ["output0"], {"atol": None, "cosine": 0.98})
    assert whole.outputs[0].cosine > 0.999  # the boxes dominate the norm: the cosine alone would pass ...
    assert not whole.passed  # ... but the channels differ in scale by 100x or more: each is checked
    assert "channel 4 cosine 0.000000 < 0.98" in whole.failure_line()
    parts = {"output0": [Slice("boxes", 0, 4, {"atol": 0.01, "rtol": 0.0}), Slice("scores", 4, 84, INT8)]}
    report = compare("int8", "model", "int8", [ref], [collapsed], ["output0"], INT8, parts)
    assert [o.name for o in report.outputs] == ["output0[boxes]", "output0[scores]"]
    assert report.outputs[0].passed and not report.outputs[1].passed
    assert "output 'output0[scores]' cosine 0.000000 < 0.98" in report.failure_line()
    assert compare("int8", "model", "int8", [ref], [ref + 1e-4], ["output0"], INT8, parts).passed


def test_channel_cosines_only_where_the_scales_differ():
    rng = np.random.default_rng(1)
    same_scale = rng.normal(size=(2, 8, 50))
    assert channel_cosines(same_scale, same_scale) is None
    mixed = same_scale.copy()
    mixed[:, 0] *= 2 * SCALE_SPREAD
    assert channel_cosines(mixed, mixed) == pytest.approx(np.ones(8))


def test_the_floor_rejects_whatever_the_switches_say():
    spec = {**NO_LIMITS, "require_parity": False}  # a user who ships failed parity checks still gets the floor
    low = row("int8", 1.0, agreement=0.0, precision="int8", floor=0.9, task="detection")
    assert violations(low, spec) == ["agreement floor 0.9 (box F1 0.000)"]
    assert violations(row("int8", 1.0, agreement=0.95, floor=0.9), spec) == []
    decision = select([low, row("fp32", 5.0, floor=0.9)], spec)
    assert decision.pick == "fp32" and "best rejected: int8" in decision.reason


def test_random_weights_are_named_in_the_reason():
    decision = select([row("a", 1.0, weights="random"), row("b", 2.0, weights="random")], NO_LIMITS)
    assert RANDOM_WEIGHTS in decision.reason
    assert RANDOM_WEIGHTS not in select([row("a", 1.0, weights="file")], NO_LIMITS).reason


@pytest.mark.xdist_group("all_run")
def test_no_accuracy_aware_search_on_random_weights(all_run):
    """accuracy_aware=auto: tiny_cnn's weights are random, so its int8 steps quantize everything, and say why."""
    assert all_run.data["weights"] == "random"
    int8 = [a for a in all_run.results.artifacts if a.precision == "int8"]
    assert {a.name for a in int8} >= {"openvino", "onnx_lowp", "tflite_int8"}
    assert not [a.name for a in int8 if a.meta.get("accuracy_aware")]
    assert "No accuracy-aware search ran: the weights are random" in (all_run.dir / "report.md").read_text()
