"""OpenVINO, CPU plugin, on an IR directory (model.xml + model.bin).

Without an explicit precision hint a bf16-capable CPU silently executes in bf16: the Runner always says what
it wants (INFERENCE_PRECISION_HINT) and records what the plugin reports it executes in. An int8 IR whose float
layers were chosen to run in bf16 (its meta `float_part`, converters/int8/quantize_openvino.py) asks for that.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from core.artifact import Artifact
from runtimes.base import Runner, Runtime, Settings
from runtimes.profiling import WARMUP, NodeTime, OnnxNames, profile_data, type_name

TYPE_NAMES = {"f32": "fp32", "f16": "fp16", "bf16": "bf16"}
PRECISION_HINT = {"fp32": "f32", "fp16": "f32", "bf16": "bf16", "int8": "f32"}
Hint = Literal["LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"]


@dataclass(frozen=True)
class Options:
    """bench.runtime.openvino"""

    latency_hint: Hint = "LATENCY"  # PERFORMANCE_HINT for batch 1 / the latency row
    throughput_hint: Hint = "THROUGHPUT"  # for batch > 1
    config: dict = field(default_factory=dict)  # compile properties verbatim (they win), e.g. {NUM_STREAMS: 1}


class OpenVinoRunner(Runner):
    runtime = "openvino"

    def __init__(self, artifact: Artifact, settings: Settings):
        import openvino as ov

        self.version = ov.__version__
        options = settings.of(RUNTIME)
        self.compiled = compile_for(artifact, settings)
        self.request = self.compiled.create_infer_request()
        self.outputs = list(self.compiled.outputs)  # once: the port lookup is a binding call, not free per inference
        self.index = {name: i for i, port in enumerate(self.compiled.inputs) for name in port.get_names()}
        reported = self.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        self.executed_precision = TYPE_NAMES.get(reported, reported)
        if artifact.precision == "int8":  # quantized layers run int8; the hint covers the rest
            self.executed_precision = f"int8+{self.executed_precision}"
        self.requests = int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")) \
            if settings.mode == "throughput" else 1
        self.applied = {"PERFORMANCE_HINT": str(self.compiled.get_property("PERFORMANCE_HINT")),
                        "INFERENCE_NUM_THREADS": int(self.compiled.get_property("INFERENCE_NUM_THREADS")),
                        "NUM_STREAMS": int(self.compiled.get_property("NUM_STREAMS")),
                        "INFERENCE_PRECISION_HINT": reported, "infer_requests": self.requests,
                        "input_shapes": {port.get_any_name(): str(port.get_partial_shape())
                                         for port in self.compiled.inputs},
                        "config": dict(options.config)}
        self._queue = None

    def __call__(self, inputs):
        # share_inputs: the request reads our arrays in place (no input copy); the outputs are OpenVINO's own
        # copies already (share_outputs=False), so they are returned as they are, not copied a second time.
        results = self.request.infer({self.index[n]: a for n, a in inputs.items()}, share_inputs=True)
        return [results[port] for port in self.outputs]

    def run_many(self, inputs, count):
        if self.requests <= 1:
            return super().run_many(inputs, count)
        import openvino as ov

        if self._queue is None:
            self._queue = ov.AsyncInferQueue(self.compiled, self.requests)
        feed = {self.index[n]: a for n, a in inputs.items()}
        for _ in range(count):
            self._queue.start_async(feed, share_inputs=True)
        self._queue.wait_all()


def compile_for(artifact: Artifact, settings: Settings, extra: dict | None = None):
    """The IR compiled for the CPU with the settings' shapes, hint, threads and precision (+ `extra` properties)."""
    import openvino as ov

    options = settings.of(RUNTIME)
    core = ov.Core()
    model = core.read_model(f"{artifact.path}/model.xml")
    fixed = static_shapes(model, settings.shapes)
    if fixed:  # what benchmark_app -shape does: static shapes compile to faster code
        model.reshape(fixed)
    hint = options.latency_hint if settings.mode == "latency" else options.throughput_hint
    config = {"PERFORMANCE_HINT": hint, "INFERENCE_NUM_THREADS": settings.n_threads,
              "INFERENCE_PRECISION_HINT": precision_hint(artifact, settings.precision)}
    config.update(options.config)  # compile properties verbatim; they win over ours
    return core.compile_model(model, "CPU", {**config, **(extra or {})})


def precision_hint(artifact: Artifact, precision: str) -> str:
    """INFERENCE_PRECISION_HINT for `artifact` asked to run at `precision`: its float part's precision when the
    converter chose one (an int8 IR with bf16 float layers), else what that precision runs as."""
    return PRECISION_HINT[artifact.meta.get("float_part") or precision]


def static_shapes(model, shapes: dict) -> dict:
    """{input port: its shape from `shapes`} for the inputs whose dimensions are dynamic in the IR."""
    fixed = {}
    for port in model.inputs:
        given = next((shapes[name] for name in port.get_names() if name in shapes), None)
        if given is not None and port.get_partial_shape().is_dynamic:
            fixed[port] = list(given)
    return fixed


def bare_loop(artifact: Artifact, inputs: dict, threads: int):
    import openvino as ov

    core = ov.Core()
    model = core.read_model(f"{artifact.path}/model.xml")
    fixed = static_shapes(model, {name: list(value.shape) for name, value in inputs.items()})
    if fixed:
        model.reshape(fixed)
    compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads,
                                                 "INFERENCE_PRECISION_HINT": precision_hint(artifact, "fp32")})
    request = compiled.create_infer_request()
    return lambda: request.infer(inputs)


def intermediate_tensors(artifact: Artifact, wanted: list[str], inputs: dict[str, np.ndarray],
                         precision: str = "fp32") -> dict[str, np.ndarray]:
    """The IR keeps ONNX tensor names: expose those asked for (Model.add_outputs), for localisation."""
    import openvino as ov

    core = ov.Core()
    model = core.read_model(f"{artifact.path}/model.xml")
    known = {name for op in model.get_ops() for out in op.outputs() for name in out.get_names()}
    model.add_outputs([name for name in wanted if name in known])
    fixed = static_shapes(model, {name: list(value.shape) for name, value in inputs.items()})
    if fixed:
        model.reshape(fixed)
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision_hint(artifact, precision)})
    results = compiled.create_infer_request().infer(inputs)
    out = {}
    for port in compiled.outputs:
        for name in port.get_names():
            if name in wanted:
                out[name] = np.array(results[port])
    return out


def profile(artifact: Artifact, settings: Settings, inputs: dict, runs: int, onnx: str | None = None) -> dict:
    """The CPU plugin's per-layer performance counters (PERF_COUNT, request.profiling_info) on a model compiled
    with the runner's settings: real time per executed layer, averaged over `runs` inferences after WARMUP; the
    executed precision from the kernel's name (exec_type, e.g. brgconv_avx512_I8); the ONNX nodes from the
    runtime model's originalLayersNames (every IR layer fused into that one)."""
    import time

    import openvino as ov

    compiled = compile_for(artifact, settings, {"PERF_COUNT": True})
    request = compiled.create_infer_request()
    index = {name: i for i, port in enumerate(compiled.inputs) for name in port.get_names()}
    feed = {index[name]: value for name, value in inputs.items()}
    fused = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        fused[op.get_friendly_name()] = str(info["originalLayersNames"].astype(str)) \
            if "originalLayersNames" in info else ""
    names, nodes, walls = OnnxNames(onnx), {}, []
    for i in range(WARMUP + runs):
        start = time.perf_counter()
        request.infer(feed, share_inputs=True)
        walls.append((time.perf_counter() - start) * 1e3)
        if i < WARMUP:
            continue
        for layer in request.profiling_info:
            if layer.status != ov.ProfilingInfo.Status.EXECUTED:
                continue
            node = nodes.get(layer.node_name)
            if node is None:
                node = nodes[layer.node_name] = NodeTime(
                    layer.node_name, layer.node_type, precision=type_name(layer.exec_type.rsplit("_", 1)[-1]),
                    kernel=layer.exec_type, onnx_nodes=names.nodes(fused.get(layer.node_name, "").split(",")))
            node.ms += layer.real_time.total_seconds() * 1e3
    run_ms = sum(walls[WARMUP:]) / runs
    return profile_data(list(nodes.values()), runs, run_ms, "OpenVINO CPU performance counters (PERF_COUNT)")


RUNTIME = Runtime(name="openvino", label="OpenVINO", format="openvino", packages=("openvino",),
                  runner=OpenVinoRunner, options=Options, bare_loop=bare_loop, tensors=intermediate_tensors,
                  profile=profile,
                  # its threads pinned to cores; denormal floats flushed to zero (slow on x86 when they occur)
                  tunables=({"config": {"ENABLE_CPU_PINNING": True}}, {"config": {"CPU_DENORMALS_OPTIMIZATION": True}}))
