"""The TF adapters' mapping of a runtime's tensors onto the reference's: by name, by onnx2tf's positional
names, by shape; NHWC undone; anything ambiguous is an error naming the artifact and the outputs."""
import numpy as np
import pytest

from core.artifact import Artifact, TensorSpec
from runtimes.matching import (
    OutputPlan,
    TensorMatchError,
    apply_plans,
    channels_last,
    match_inputs,
    match_outputs,
    orientations,
)

REF = [TensorSpec("tokens", [1, 257, 6]), TensorSpec("fmap", [1, 6, 16, 16], "NCHW")]


def test_positional_names_in_any_order_and_nhwc_undone():
    plans = match_outputs("tf", REF, {"output_1": [1, 16, 16, 6], "output_0": [1, 257, 6]})
    assert [(p.name, p.transpose) for p in plans] == [("output_0", None), ("output_1", (0, 3, 1, 2))]
    plans = match_outputs("tfl", REF, {"Identity_1": [1, 16, 16, 6], "Identity": [1, 257, 6]})
    assert [p.name for p in plans] == ["Identity", "Identity_1"]


def test_names_win_and_are_compared_sanitized():
    plans = match_outputs("tf", REF, {"FMAP": [1, 6, 16, 16], "tokens:0": [1, 257, 6]})
    assert [(p.name, p.transpose) for p in plans] == [("tokens:0", None), ("FMAP", None)]


def test_unnamed_outputs_match_by_unique_shape():
    plans = match_outputs("tf", REF, {"a": [1, 16, 16, 6], "b": [1, 257, 6]})
    assert [p.name for p in plans] == ["b", "a"]


def test_same_shape_unnamed_outputs_are_refused():
    ref = [TensorSpec("x", [1, 10]), TensorSpec("y", [1, 10])]
    with pytest.raises(TensorMatchError, match=r"^cand: cannot match .*'x'.*reference: x\[1, 10\], y\[1, 10\]"):
        match_outputs("cand", ref, {"a": [1, 10], "b": [1, 10]})


def test_square_map_is_ambiguous_not_guessed():
    ref = [TensorSpec("fmap", [1, 8, 8, 8], "NCHW")]
    with pytest.raises(TensorMatchError, match="both as is and channels-last"):
        match_outputs("tf", ref, {"output_0": [1, 8, 8, 8]})
    # a transpose over size-1 axes moves nothing: not ambiguous
    assert orientations([1, 1, 1, 1], [1, 1, 1, 1]) == [None]


def test_name_match_with_wrong_shape_and_wrong_count_fail():
    with pytest.raises(TensorMatchError, match="neither"):
        match_outputs("tf", REF, {"output_0": [1, 258, 6], "output_1": [1, 16, 16, 6]})
    with pytest.raises(TensorMatchError, match="it has 1 outputs, the reference 2"):
        match_outputs("tf", REF, {"output_0": [1, 257, 6]})


def test_dynamic_batch_fits_and_input_layout():
    assert orientations([1, 6, 16, 16], [-1, 16, 16, 6]) == [(0, 3, 1, 2)]
    artifact = Artifact("tf", "tf_savedmodel", "/nowhere", inputs=[TensorSpec("input", [1, 3, 32, 32], "NCHW")])
    assert match_inputs(artifact, {"input": [1, 32, 32, 3]}) == {"input": ("input", "NHWC")}
    assert match_inputs(artifact, {"input": [1, 3, 32, 32]}) == {"input": ("input", "")}  # e.g. onnx2tf -k input
    with pytest.raises(TensorMatchError, match="in no layout"):
        match_inputs(artifact, {"input": [1, 32, 32, 4]})


def test_several_inputs_pair_by_name_and_only_images_go_channels_last():
    artifact = Artifact("tf", "tf_savedmodel", "/nowhere", inputs=[
        TensorSpec("image", [1, 3, 32, 32], "NCHW"), TensorSpec("input_ids", [1, 16], dtype="int64"),
        TensorSpec("features.0", [1, 8])])
    pairs = match_inputs(artifact, {"features_0": [1, 8], "input_ids:0": [1, 16], "image": [-1, 32, 32, 3]})
    assert pairs == {"image": ("image", "NHWC"), "input_ids": ("input_ids:0", ""), "features.0": ("features_0", "")}
    with pytest.raises(TensorMatchError, match="no input named like the reference's 'input_ids'"):
        match_inputs(artifact, {"features_0": [1, 8], "ids": [1, 16], "image": [1, 32, 32, 3]})
    with pytest.raises(TensorMatchError, match="it has 1 inputs"):
        match_inputs(artifact, {"image": [1, 32, 32, 3]})
    square = Artifact("tf", "tf_savedmodel", "/nowhere", inputs=[TensorSpec("x", [1, 3, 3, 3], "NCHW")])
    with pytest.raises(TensorMatchError, match="both as is and channels-last"):
        match_inputs(square, {"x": [1, 3, 3, 3]})  # C == H == W: never guessed


def test_channels_last_shapes_and_plans_applied():
    assert channels_last([1, 6, 16, 16]) == [1, 16, 16, 6] and channels_last([1, 3, 10]) == [1, 10, 3]
    assert channels_last([1, 10]) == [1, 10]  # no channel axis to move
    nhwc = np.arange(2 * 4 * 5 * 3).reshape(2, 4, 5, 3)
    tokens = np.ones((2, 7))
    back, same = apply_plans([OutputPlan("a", (0, 3, 1, 2)), OutputPlan("b", None)], {"a": nhwc, "b": tokens})
    assert back.shape == (2, 3, 4, 5) and back[1, 2, 3, 4] == nhwc[1, 3, 4, 2] and same is tokens


def test_dynamic_sizes_go_the_way_their_known_sizes_agree():
    """onnx2tf's default file of a detector with dynamic H and W takes [-1, -1, -1, 3]: as is it fits the ONNX
    input [-1, 3, -1, -1] only through unknown sizes, channels-last its 3 is the channels'."""
    detector = Artifact("tflite", "tflite", "/nowhere", inputs=[TensorSpec("x", [-1, 3, -1, -1], "NCHW")])
    assert match_inputs(detector, {"x": [-1, -1, -1, 3]}) == {"x": ("x", "NHWC")}
    assert match_inputs(detector, {"x": [-1, 3, -1, -1]}) == {"x": ("x", "")}
    with pytest.raises(TensorMatchError, match="both as is and channels-last"):  # nothing known to agree with
        match_inputs(detector, {"x": [-1, -1, -1, -1]})
