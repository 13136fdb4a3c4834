"""The runtime registry is the one place per-runtime facts live: every runtime in it is complete (a format of
its own, a label, installed packages, a Runner, an Options dataclass whose defaults construct), and the config
schema and conf/config.yaml know exactly the registry's runtimes, with the same defaults."""
import importlib.util
from dataclasses import asdict, fields, is_dataclass
from importlib import metadata

import pytest
from omegaconf import OmegaConf

import runtimes
from bench.environment import environment
from core.artifact import FORMATS, Artifact, TensorSpec
from pipeline.config import CONF_DIR
from pipeline.schema import RuntimeOptions
from runtimes.base import Runner, Runtime, Settings

RUNTIMES = list(runtimes.REGISTRY.values())


@pytest.mark.parametrize("runtime", RUNTIMES, ids=lambda r: r.name)
def test_every_runtime_is_complete(runtime: Runtime):
    assert runtimes.REGISTRY[runtime.name] is runtime and runtimes.get(runtime.name) is runtime
    assert runtime.format in FORMATS and runtimes.for_format(runtime.format) is runtime
    assert isinstance(runtime.label, str) and runtime.label.strip() and runtimes.label(runtime.name) == runtime.label
    assert runtime.packages
    for package in runtime.packages:
        assert metadata.version(package)  # installed: importlib.metadata finds it (raises if not)
    assert isinstance(runtime.runner, type) and issubclass(runtime.runner, Runner)
    assert is_dataclass(runtime.options) and isinstance(runtime.options, type)
    defaults = runtime.options()  # every option has a default
    assert Settings().of(runtime) == defaults  # no bench.runtime block given: the defaults
    assert runtime.runner.runtime == runtime.name  # what a Runner reports in info() is the registry's name
    # its module is the one that registers it: the memo of its outputs is keyed by that module's source
    assert importlib.import_module(runtime.module).RUNTIME is runtime
    code = runtimes.outputs_code(runtime)
    assert runtime.module in code and "runtimes.infer" in code
    assert not [name for name in code if importlib.util.find_spec(name) is None]
    assert not {r.module for r in RUNTIMES if r is not runtime} & set(code)  # nor another runtime's


def test_the_environment_records_every_runtimes_packages():
    recorded = environment()["packages"]
    for runtime in RUNTIMES:
        for package in runtime.packages:
            assert recorded[package] == metadata.version(package), package


def test_one_runtime_per_format_and_every_format_has_one():
    formats = [r.format for r in RUNTIMES]
    assert len(formats) == len(set(formats))
    assert set(formats) == set(FORMATS)
    assert runtimes.NAMES == tuple(runtimes.REGISTRY)


def test_unknown_names_and_formats_are_refused_by_name():
    with pytest.raises(KeyError, match="'onnx' is not a runtime; known: torch, onnxruntime"):
        runtimes.get("onnx")
    with pytest.raises(ValueError, match="no runtime runs format 'pickle'"):
        runtimes.for_format("pickle")
    assert runtimes.label("nope") == "nope" and runtimes.label(None) == "None"


def test_schema_and_config_yaml_know_exactly_the_registry():
    assert set(RuntimeOptions.model_fields) == set(runtimes.NAMES)
    config = OmegaConf.load(CONF_DIR / "config.yaml")
    blocks = OmegaConf.to_container(config.bench.runtime)
    assert list(blocks) == list(runtimes.NAMES)  # same names, listed in the registry's order
    for name, block in blocks.items():
        options = runtimes.get(name).options
        assert set(block) == {f.name for f in fields(options)}, name  # every option, and only those
        assert asdict(options(**block)) == asdict(options()), name  # the yaml's values are the defaults


def test_settings_take_a_runtime_block_and_ignore_the_others():
    settings = Settings(options={"onnxruntime": {"graph_optimization_level": "basic"},
                                 "openvino": {"config": {"NUM_STREAMS": 1}}})
    assert settings.of(runtimes.get("onnxruntime")).graph_optimization_level == "basic"
    assert settings.of(runtimes.get("openvino")).config == {"NUM_STREAMS": 1}
    assert settings.of(runtimes.get("tflite")).xnnpack is True
    assert Settings(threads=3).n_threads == 3 and Settings().n_threads >= 1


@pytest.mark.parametrize("name,bad,message", [
    ("torch", {"inter_op_threads": 0}, "inter_op_threads=0 is not allowed; give an integer >= 1"),
    ("onnxruntime", {"inter_op_threads": True}, "inter_op_threads=True is not allowed"),
    ("tensorflow", {"inter_op_threads": -2}, "inter_op_threads=-2 is not allowed"),
    ("tflite", {"xnnpack": "yes"}, "xnnpack='yes' is not allowed; allowed: True, False"),
])
def test_options_check_their_own_values(name, bad, message):
    with pytest.raises(ValueError, match=message):
        runtimes.get(name).options(**bad)


def _artifact(fmt: str, batch: int, loader: str | None = None) -> Artifact:
    return Artifact(name="a", format=fmt, path="/nowhere", inputs=[TensorSpec("input", [batch, 3, 8, 8], "NCHW")],
                    meta={"loader": loader} if loader else {})


def test_fixed_batch_artifacts_are_refused_with_the_reason():
    assert runtimes.batch_refusal(_artifact("torch", 1), 4) == ""  # eager PyTorch takes any batch
    assert runtimes.batch_refusal(_artifact("onnx", -1), 4) == ""
    assert runtimes.batch_refusal(_artifact("openvino", 4), 4) == ""
    assert "input batch fixed at 1" in runtimes.batch_refusal(_artifact("onnx", 1), 4)
    assert "dynamic_batch=true" in runtimes.batch_refusal(_artifact("tflite", 1), 4)
    # a traced or exported torch file may have its batch baked in
    assert "input batch fixed at 1" in runtimes.batch_refusal(_artifact("torch", 1, "torchscript"), 4)
