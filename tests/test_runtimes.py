"""Each runtime's Runner on the tiny model's artifacts of the ALL run: loaded through the registry, fed the
run's inputs in the runner's own layout, its outputs are the ones the run's parity check recorded, and it
reports what it applied. PyTorch, ONNX Runtime, OpenVINO and TFLite run in this process; TensorFlow in a child
(it crashed next to torch on this machine), through runtimes.infer as the parity check runs it."""
from importlib import metadata

import numpy as np
import pytest

import runtimes
from core.samples import per_item, stacked
from pipeline import warm_start
from runtimes.base import Settings, for_runner, settings_data, to_layout
from tests.conftest import infer

pytestmark = pytest.mark.xdist_group("all_run")
IN_PROCESS = {"model": "torch", "simplify": "onnxruntime", "onnx_lowp": "onnxruntime", "openvino": "openvino",
              "tflite_fp32": "tflite", "tflite_int8": "tflite"}


@pytest.fixture(scope="module")
def calls(all_run) -> np.ndarray:
    """The run's input set: the one image input, [N, *the shape of one call] (a call of one image here)."""
    with np.load(all_run.dir / "inputs.npz") as data:
        return data["input"]


@pytest.fixture(scope="module")
def inputs(calls) -> np.ndarray:
    """The run's images, one row each (the calls' batch axes merged)."""
    return per_item([calls])[0]


def fed(runner, batch: np.ndarray) -> dict:
    """One batch as a runner takes it: by input name, in the layout it asks for."""
    return for_runner(runner, {"input": batch})


@pytest.mark.parametrize("name", list(IN_PROCESS))
def test_runner_reproduces_the_recorded_outputs(all_run, calls, name):
    artifact = all_run.artifact(name)
    runtime = runtimes.for_format(artifact.format)
    assert runtime.name == IN_PROCESS[name]
    runner = runtimes.load(artifact, Settings(threads=1, precision=artifact.precision))
    assert isinstance(runner, runtime.runner)
    outputs = stacked([runner(fed(runner, calls[i])) for i in range(len(calls))])  # one call per sample
    recorded = all_run.recorded_outputs(name)
    assert recorded[0].shape == (len(calls), 1, 10)  # [N, *the output of one call]
    assert [o.shape for o in outputs] == [r.shape for r in recorded]
    # int8 kernels may round differently with another thread count: compare at the run's own tolerance
    atol = 1e-5 if artifact.precision == "fp32" else 0.05
    for mine, theirs in zip(outputs, recorded, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=atol)
    info = runner.info()
    assert info["runtime"] == runtime.name and info["layout"] == ("NHWC" if artifact.format == "tflite" else "NCHW")
    assert info["layouts"] == ({"input": "NHWC"} if artifact.format == "tflite" else {})
    assert info["version"].startswith(metadata.version(runtime.packages[0]))  # OpenVINO adds its build
    expected = "fp32" if name == "model" else all_run.parity(name).executed_precision  # the reference has no check
    assert info["executed_precision"] == expected
    assert info["settings"], "a runner reports the settings it applied"


def test_runners_apply_the_bench_runtime_blocks(all_run, inputs):
    """Settings as the pipeline builds them from bench.runtime reach the runtime and come back in info()."""
    bench = {"threads": 1, "runtime": {"onnxruntime": {"graph_optimization_level": "basic",
                                                       "session_config": {"session.intra_op.allow_spinning": "0"}},
                                       "openvino": {"config": {"NUM_STREAMS": 1}}, "tflite": {"xnnpack": False}}}
    ort = runtimes.load(all_run.artifact("simplify"), Settings(**settings_data(bench, "onnxruntime", "fp32")))
    assert ort.applied["graph_optimization_level"] == "basic" and ort.applied["intra_op_threads"] == 1
    assert ort.applied["session_config"] == {"session.intra_op.allow_spinning": "0"}
    shapes = {"input": [2, 3, 32, 32]}
    ov = runtimes.load(all_run.artifact("openvino"), Settings(**settings_data(bench, "openvino", "int8", shapes,
                                                                              mode="throughput")))
    assert ov.applied["NUM_STREAMS"] == 1 and ov.applied["PERFORMANCE_HINT"] == "THROUGHPUT"
    assert ov.applied["input_shapes"] == {"input": "[2,3,32,32]"}  # a dynamic batch fixed at load
    assert [o.shape[0] for o in ov(fed(ov, inputs[:2]))] == [2]
    ov.run_many(fed(ov, inputs[:2]), 3)  # the throughput loop (requests in flight) runs
    lite = runtimes.load(all_run.artifact("tflite_fp32"), Settings(**settings_data(bench, "tflite", "fp32")))
    assert lite.applied == {"num_threads": 1, "xnnpack": False}
    assert lite.layouts == {"input": "NHWC"}
    np.testing.assert_allclose(lite({"input": to_layout(inputs[:1], "NHWC")})[0],
                               all_run.recorded_outputs("tflite_fp32")[0][0], rtol=1e-4, atol=1e-5)


def test_tflite_runner_resizes_for_another_batch(all_run, inputs):
    runner = runtimes.load(all_run.artifact("tflite_fp32"), Settings(threads=1))
    two = runner(fed(runner, inputs[:2]))[0]
    one = runner(fed(runner, inputs[:1]))[0]
    assert two.shape == (2, 10) and one.shape == (1, 10)
    np.testing.assert_allclose(two[:1], one, rtol=1e-5, atol=1e-6)


def test_tensorflow_runner_in_a_child_process(all_run, tmp_path, monkeypatch):
    """In a child forked from the warm parent that imported TensorFlow (pipeline/warm_start.py), and in a cold
    one: the same outputs, bit for bit."""
    outputs, info = infer(all_run.artifact("tf"), all_run.dir / "inputs.npz", tmp_path / "warm", child=True)
    assert "tensorflow" in warm_start._parents
    assert info.runtime == "tensorflow" and info.layout == "NHWC" and info.executed_precision == "fp32"
    assert info.version == metadata.version("tensorflow") and info.settings["intra_op_threads"] == 1
    np.testing.assert_allclose(outputs[0], all_run.recorded_outputs("tf")[0], rtol=1e-4, atol=1e-5)
    monkeypatch.setenv("CONVGRAPH_COLD_CHILDREN", "1")
    cold, _ = infer(all_run.artifact("tf"), all_run.dir / "inputs.npz", tmp_path / "cold", child=True)
    assert all(np.array_equal(a, b) for a, b in zip(outputs, cold, strict=True))
