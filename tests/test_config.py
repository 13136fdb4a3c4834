"""Config validation in-process: configs composed as convert.py composes them (Hydra's compose API), checked by
pipeline.config.validate. Any value either passes or gives one line naming its key, the value and what is
allowed (a property test); the bad values a user types get exactly the line convert.py prints."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import UserError
from pipeline.config import CONF_DIR, available, validate
from pipeline.schema import Config, Select
from ship.selection import LIMITS
from tests.conftest import composed, parsed


def error_of(config: dict) -> str:
    with pytest.raises(UserError) as caught:
        validate(config)
    line = str(caught.value)
    assert "\n" not in line, line  # one line, whatever the value holds
    return line


# ---- the property: any value passes (and is really valid) or is named in one line --------------------------------
anything = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.floats(allow_nan=False),
                     st.text(max_size=8))
KEYS = {"opset": anything, "precision": st.one_of(anything, st.sampled_from(["fp32", "fp16", "bf16", "int8"])),
        "input.size": anything, "input.batch": anything, "bench.runs": anything, "bench.warmup": anything,
        "bench.threads": anything}
BASE = composed("cache.enabled=false")


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(sorted(KEYS)), data=st.data())
def test_value_passes_or_is_named(key, data):
    value = data.draw(KEYS[key])
    config = copy.deepcopy(BASE)
    node, leaf = (config, key) if "." not in key else (config[key.split(".")[0]], key.split(".")[1])
    node[leaf] = value
    try:
        checked = validate(config)
    except UserError as error:
        assert str(error).startswith(f"{key}=") or key in str(error)
        assert "\n" not in str(error)  # one line, whatever the value holds
        return
    # it passed: then it must really be valid
    if key == "opset":
        assert isinstance(value, int) and not isinstance(value, bool) and 13 <= value <= 21
        assert checked.opset == value
    elif key == "precision":
        assert value in ("fp32", "fp16", "bf16", "int8")
    elif key == "input.size":  # null: a model without image inputs (an image model's binding then asks for it)
        assert value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 8)
    elif key in ("input.batch", "bench.runs"):
        assert isinstance(value, int) and not isinstance(value, bool) and value >= 1
    elif key == "bench.warmup":
        assert isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif key == "bench.threads":
        assert value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)


def test_every_shipped_config_validates():
    """Each graph with each built-in model, and every select objective, as shipped."""
    for graph in available("graph"):
        for model in ("tiny_cnn", "tiny_head", "resnet18", "yolov8n"):
            checked = validate(composed("cache.enabled=false", graph=graph, model=model))
            assert isinstance(checked, Config) and checked.graph.name == graph
    for objective in available("select"):
        assert validate(composed(f"+select={objective}", "cache.enabled=false")).select.objective == objective


# ---- the bad values a user types (convert.py prints exactly these lines, exit code 2) --------------------------
CASES = {
    "opset=99": "opset=99 is out of range; allowed: 13..21",
    "precision=int3": "precision='int3' is not allowed; allowed: fp32, fp16, bf16, int8",
    "model.weights=/no/such/file": "model.weights='/no/such/file': no such file",
    "input.size=-5": "input.size=-5 is not allowed; give a side >= 8 (square) or [height, width], each >= 8",
    "input.batch=0": "input.batch=0 is not allowed; give an integer >= 1",
    "input.images=/no/such/dir": "input.images='/no/such/dir' is not a directory; give a folder of .jpg/.png images",
    "calibration.count=0": "calibration.count=0 is not allowed; give an integer >= 1",
    "graph.steps.simplify.check_n=x": "graph.steps.simplify.check_n='x' is not allowed; give an integer",
    "graph.steps.export.exporter=fast":
        "graph.steps.export.exporter='fast' is not allowed; allowed: auto, legacy, dynamo",
    "+graph.steps.export.foo=1": "graph.steps.export.foo is not an option of torch_to_onnx; its options: input, "
                                 "timeout_s, opset, exporter, dynamic_batch",
    "graph.steps.simplify.timeout_s=0": "graph.steps.simplify.timeout_s=0 is not allowed; give seconds > 0",
    "graph.steps.openvino.input=nowhere": "graph.steps.openvino.input='nowhere' names no step; allowed: model, "
                                          "export, simplify, openvino, onnx_lowp",
    "+graph.steps.x.kind=nope": "graph.steps.x.kind='nope' is not a known step; known: torch_to_onnx, "
                                "torch_to_litert, onnx_simplify, onnx_to_openvino, onnx_precision, onnx_to_tf, "
                                "tf_to_tflite",
    "+graph.steps.x.kind=mypkg.nothing": "graph.steps.x.kind='mypkg.nothing': no such module",
    "+graph.steps.openvino.when_precision=[int3]":
        "graph.steps.openvino.when_precision=['int3'] is not allowed; give a list of: fp32, fp16, bf16, int8",
    "graph.steps.onnx_lowp.calibration=kl":
        "graph.steps.onnx_lowp.calibration='kl' is not allowed; allowed: auto, minmax, percentile, entropy",
    "graph.steps.onnx_lowp.min_speedup=-1":
        "graph.steps.onnx_lowp.min_speedup=-1 is not allowed; give a number >= 0 (0: offered at any speed)",
    # a union (bool | Literal["auto"]): every member named, on the key itself
    "graph.steps.openvino.accuracy_aware=sometimes":
        "graph.steps.openvino.accuracy_aware='sometimes' is not allowed; allowed: true, false or auto",
    "cache.dir=/proc/nope": "cache.dir='/proc/nope' is not writable: No such file or directory",
    "bench.warmup=-1": "bench.warmup=-1 is not allowed; give an integer >= 0",
    "bench.threads=0": "bench.threads=0 is not allowed; give an integer >= 1",
    "bench.noisy_cv=0": "bench.noisy_cv=0 is not allowed; give a number > 0",
    "bench.runtime.onnxruntime.graph_optimization_level=max":
        "bench.runtime.onnxruntime.graph_optimization_level='max' is not allowed; allowed: disable, basic, "
        "extended, layout, all",
    "bench.runtime.tflite.xnnpack=maybe": "bench.runtime.tflite.xnnpack='maybe' is not allowed; give true or false",
    "bench.runtime.torch.inter_op_threads=true":
        "bench.runtime.torch.inter_op_threads=True is not allowed; give an integer",
    "bench.runtime.tensorflow.inter_op_threads=0":
        "bench.runtime.tensorflow.inter_op_threads=0 is not allowed; give an integer >= 1",
    "+bench.runtime.onnx.x=1": "bench.runtime.onnx is not a config key; known: torch, onnxruntime, openvino, "
                               "tensorflow, tflite",
    "validate.tolerances.fp32.atol=true": "validate.tolerances.fp32.atol=True is not allowed; give a number",
    "validate.fail_run_on_mismatch=maybe": "validate.fail_run_on_mismatch='maybe' is not allowed; give true or false",
    "progress=maybe": "progress='maybe' is not allowed; give true or false",
}


@pytest.mark.parametrize("override", list(CASES))
def test_bad_value_gives_one_line(override):
    assert error_of(composed(override)) == CASES[override]


def test_options_of_the_tf_steps_are_checked_before_anything_runs():
    assert error_of(composed("graph.steps.tf.verbosity=loud", graph="tflite")) == \
        "graph.steps.tf.verbosity='loud' is not allowed; allowed: debug, info, warn, error"
    assert error_of(composed("graph.steps.tflite_fp16.precision=int4", graph="tflite")) == \
        "graph.steps.tflite_fp16.precision='int4' is not allowed; allowed: fp32, fp16, int8, bf16"
    assert validate(composed("graph.steps.tflite_fp16.precision=bf16", graph="tflite"))  # n/a at run time, not bad


def test_a_good_dict_option_and_a_bench_batch_list_pass():
    checked = validate(composed("+bench.runtime.openvino.config.NUM_STREAMS=1", "bench.batch=[1,4]"))
    assert checked.bench.runtime.openvino.config == {"NUM_STREAMS": 1} and checked.bench.batch == [1, 4]


def test_bench_batch_is_checked_in_the_schema_too():
    config = composed()
    config["bench"]["batch"] = [1, 0]  # a dict that never went through the resolver that reads bench.batch
    assert error_of(config) == ("bench.batch=[1,0] is not allowed; give a batch size >= 1 or a list of them, "
                                "e.g. bench.batch=[1,4]")


def test_an_unknown_top_level_key_is_named_with_the_known_ones():
    config = composed()
    config["benchmark"] = {"runs": 3}
    line = error_of(config)
    assert line.startswith("benchmark is not a config key; known: model, opset, precision, seed, input, validate")


def test_images_folder_that_exists_passes_validation(tmp_path):
    assert validate(composed(f"input.images={tmp_path}"))  # empty or not: the input step says (test_pipeline_inputs)


# ---- the select block (pipeline.schema.Select) ------------------------------------------------------------------
SELECT_CASES = {
    "select.objective=speed": "select.objective='speed' is not allowed; allowed: latency, throughput, footprint",
    "select.max_latency_ms=-1": "select.max_latency_ms=-1 is not allowed; give a number >= 0",
    "select.runtimes=[onnx]": "select.runtimes.0='onnx' is not allowed; allowed: torch, onnxruntime, openvino, "
                              "tensorflow, tflite",
    "select.runtimes=openvino": "select.runtimes='openvino' is not allowed; give a list",
    "select.precisions=[int4]": "select.precisions.0='int4' is not allowed; allowed: fp32, fp16, bf16, int8",
    "select.tie_within=1.5": "select.tie_within=1.5 is not allowed; give a number < 1",
    "select.retime_rounds=-1": "select.retime_rounds=-1 is not allowed; give an integer >= 0",
    "select.retime_rounds=two": "select.retime_rounds='two' is not allowed; give an integer",
    "select.require_parity=perhaps": "select.require_parity='perhaps' is not allowed; give true or false",
    "+select.max_latncy_ms=3": "select.max_latncy_ms is not a config key; known: objective, max_latency_ms, "
                               "min_throughput_ips, min_agreement",
}


@pytest.mark.parametrize("override", list(SELECT_CASES))
def test_select_errors_are_one_line_naming_the_key(override):
    assert error_of(composed("+select=latency", override)).startswith(SELECT_CASES[override])


@pytest.mark.parametrize("objective", ["latency", "throughput", "footprint"])
def test_select_group_composes_and_matches_the_code(objective):
    config = composed("select.max_footprint_mb=300", "select.runtimes=[openvino,onnxruntime]", f"+select={objective}")
    assert "select" not in composed()  # off unless asked for
    spec = config["select"]
    assert spec["objective"] == objective and spec["max_footprint_mb"] == 300 and spec["bundle"] is True
    assert set(spec) == set(Select.model_fields)  # the yaml sets every key the schema knows, and no other
    assert set(LIMITS) <= set(spec)  # every limit ship.selection applies can be set
    checked = validate(config).select
    assert checked.runtimes == ["openvino", "onnxruntime"] and checked.objective == objective


def test_dynamic_export_exactly_when_another_batch_is_asked_for():
    """One place decides the run's dynamic batch (StepInputs.dynamic_batch, from bench.batch and input.batch);
    the export's option is unset unless the user sets it, and then it wins."""
    from pipeline.steps import run_needs_dynamic_batch

    def dynamic(*overrides):
        config = parsed(*overrides)
        option = config.graph.steps["export"]["dynamic_batch"]
        return option, run_needs_dynamic_batch(config)

    assert dynamic() == (None, False)
    assert dynamic("bench.batch=[1,4]") == (None, True)
    assert dynamic("bench.batch=4", "input.batch=4") == (None, False)
    assert dynamic("bench.batch=[1,4]", "graph.steps.export.dynamic_batch=false") == (False, True)  # the user's


def test_conf_dir_is_the_repository_conf():
    assert CONF_DIR == Path(__file__).resolve().parent.parent / "conf"
    assert available("graph") == ["all", "litert", "openvino", "tflite"]
    assert {"tiny_cnn", "tiny_head", "yolov8n", "onnx", "torchscript"} <= set(available("model"))
