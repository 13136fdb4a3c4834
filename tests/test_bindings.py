"""Binding a model's inputs: the file's dynamic dimensions from input.shapes, input.batch and input.size; values
for the inputs that are not images from input.data or generated from input.ranges. Every mistake is one line
naming the input, the dimension, the model's value and the given one."""
from __future__ import annotations

import numpy as np
import pytest

from core.artifact import TensorSpec
from core.errors import UserError
from core.feeds import Feed
from pipeline.bindings import bind, declared_inputs
from pipeline.config import validate
from pipeline.inputs import generated, user_data, value_range
from tests.conftest import composed, parsed

IMAGE = TensorSpec("x", [-1, 3, -1, -1], "NCHW")
TOKENS = [TensorSpec("input_ids", [-1, -1], dtype="int64"), TensorSpec("attention_mask", [-1, -1], dtype="int64")]


def config(*overrides: str, model: str = "tiny_cnn"):
    return parsed(*overrides, model=model)


def error_of(call) -> str:
    with pytest.raises(UserError) as caught:
        call()
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_dynamic_dims_are_bound_by_shapes_or_by_batch_and_size():
    [feed] = bind(config("input.shapes={x:[1,3,48,320]}"), [IMAGE])
    assert feed == Feed("x", "image", [1, 3, 48, 320], "float32", "NCHW", 0) and feed.size == (48, 320)
    [feed] = bind(config("input.batch=2", "input.size=[360,480]"), [IMAGE])
    assert feed.shape == [2, 3, 360, 480]
    [feed] = bind(config(), declared_inputs(config().model))  # a model built here: one image at model.size
    assert feed.name == "input" and feed.shape == [1, 3, 32, 32] and feed.kind == "image"


def test_every_wrong_shape_is_one_line_naming_input_dimension_and_values():
    assert error_of(lambda: bind(config("input.shapes={x:[1,3,256]}"), [IMAGE])) == (
        "input.shapes.x=[1, 3, 256]: rank 3, but input 'x' has rank 4 [?, 3, ?, ?]")
    assert error_of(lambda: bind(config("input.shapes={nope:[1,3,8,8]}"), [IMAGE])) == (
        "input.shapes.nope: the model has no input 'nope'; its inputs: x")
    assert error_of(lambda: bind(config("input.shapes={x:[1,4,256,320]}"), [IMAGE])) == (
        "input.shapes.x=[1, 4, 256, 320]: dimension 1 of input 'x' is 3 in the model, 4 given")
    fixed = TensorSpec("x", [1, 3, 224, 224], "NCHW")
    assert error_of(lambda: bind(config("input.size=192"), [fixed])) == (
        "input.size=[192, 192] does not fit input 'x': the model fixes its height x width at 224 x 224")
    cfg = config("model.size=null")
    assert error_of(lambda: bind(cfg, [IMAGE, *TOKENS])) == (
        "model=tiny_cnn has dynamic dimensions: x [?, 3, ?, ?], input_ids [?, ?], attention_mask [?, ?]; bind them "
        "with 'input.shapes={x:[1,3,H,W],input_ids:[1,D1],attention_mask:[1,D1]}'")


def test_bad_values_of_the_input_keys_are_refused_before_anything_runs():
    for override, line in {
        "input.size=[0,5]": "input.size=[0, 5] is not allowed; give a side >= 8 (square) or [height, width], each >= 8",
        "input.data=/no/file.npz": "input.data='/no/file.npz': no such file",
        "input.ranges={input_ids:[5,1]}": "input.ranges.input_ids=[5, 1] is not allowed; give [low, high] with "
                                          "low <= high",
    }.items():
        assert error_of(lambda o=override: validate(composed(o))) == line


def test_integer_inputs_need_a_range_or_data_and_generated_values_respect_it():
    feeds = [Feed("input_ids", "data", [1, 16], "int64"), Feed("mask", "data", [1, 16], "bool"),
             Feed("scale", "data", [1, 4], "float32")]
    assert error_of(lambda: value_range(config(), feeds[0])) == (
        "input 'input_ids' (int64 [1, 16]) needs values: give 'input.ranges={input_ids:[LOW,HIGH]}' (e.g. token "
        "ids: [0, vocabulary size - 1]) or input.data=FILE.npz")
    cfg = config("input.ranges={input_ids:[3,5],scale:[-2,-1]}")
    first, again = generated(cfg, feeds, 50, seed=0), generated(cfg, feeds, 50, seed=0)
    assert all(np.array_equal(first[k], again[k]) for k in first)  # reproducible from the seed
    ids = first["input_ids"]
    # 50 samples of the shape one call takes
    assert ids.dtype == np.int64 and ids.shape == (50, 1, 16) and set(np.unique(ids)) == {3, 4, 5}  # inclusive
    assert first["mask"].dtype == bool and first["mask"].all()  # bools default to true (a mask)
    assert first["scale"].dtype == np.float32 and (first["scale"] >= -2).all() and (first["scale"] < -1).all()
    assert not np.array_equal(generated(cfg, feeds, 50, seed=1)["input_ids"], ids)


def test_input_data_is_checked_against_the_model(tmp_path):
    feeds = [Feed("input_ids", "data", [1, 16], "int64"), Feed("attention_mask", "data", [1, 16], "int64")]
    good = {"input_ids": np.zeros((3, 1, 16), np.int64), "attention_mask": np.ones((3, 1, 16), np.int64)}
    cases = {
        "missing": ({"input_ids": good["input_ids"]}, " has no array 'attention_mask' (it has input_ids)"),
        "dtype": ({**good, "input_ids": good["input_ids"].astype(np.int32)},
                  ": 'input_ids' is int32, the model takes int64"),
        "shape": ({**good, "input_ids": np.zeros((3, 16), np.int64)},  # the samples' batch axis left out
                  ": 'input_ids' has shape [3, 16]; give [N, 1, 16]: N samples (one call each) of the shape the "
                  "model is fed, [1, 16]"),
        "count": ({**good, "input_ids": np.zeros((2, 1, 16), np.int64)},
                  ": the arrays hold [2, 3] samples; give every input the same number, >= 1"),
    }
    for name, (arrays, line) in cases.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, **arrays)
        assert error_of(lambda p=path: user_data(config(f"input.data={p}"), feeds)) == f"input.data={str(path)!r}{line}"
    np.savez(tmp_path / "good.npz", **good)
    data = user_data(config(f"input.data={tmp_path / 'good.npz'}"), feeds)
    assert set(data) == {"input_ids", "attention_mask"} and len(data["input_ids"]) == 3
