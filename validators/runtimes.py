"""Runtime adapters: `load(artifact, settings)` -> a Runner that maps one input batch to the model's outputs.

Parity and timing both go through here, so they measure the same thing. A Runner hides its runtime's
input layout (it says which layout it wants in `.layout`; the caller prepares inputs so), input/output
names and dtype; it returns outputs in the reference's order and layout.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np

from core.artifact import Artifact, TensorSpec

RUNTIME_OF_FORMAT = {"torch": "torch", "onnx": "onnxruntime", "openvino": "openvino",
                     "tf_savedmodel": "tensorflow", "tflite": "tflite"}


@dataclass
class Settings:
    threads: int = 0  # 0 = all cores
    precision: str = "fp32"  # what the runtime is asked to execute in
    options: dict = field(default_factory=dict)  # per runtime: {"onnxruntime": {...}, "openvino": {...}, ...}
    batch: int = 0  # 0 = any; else a dynamic batch axis is fixed to this at load (static shapes run faster)
    mode: str = "latency"  # latency: one request at a time; throughput: the runtime's throughput setting

    @property
    def n_threads(self) -> int:
        return self.threads or os.cpu_count() or 1

    def of(self, runtime: str) -> dict:
        return dict(self.options.get(runtime) or {})


def settings_data(bench: dict, runtime: str, precision: str, batch: int = 0, mode: str = "latency") -> dict:
    """Settings as data for a child process (benchmark worker, fidelity, a deploy bundle), from the `bench` config
    block: its threads, the precision asked, this runtime's block of bench.runtime, the batch, the mode."""
    return {"threads": bench.get("threads") or 0, "precision": precision,
            "options": {runtime: (bench.get("runtime") or {}).get(runtime) or {}}, "batch": batch, "mode": mode}


class Runner:
    layout = "NCHW"
    executed_precision = "fp32"
    runtime = ""
    version = ""
    requests = 1  # inferences the runtime wants in flight at once (OpenVINO's throughput hint: more than 1)

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def run_many(self, batch: np.ndarray, count: int) -> None:
        """`count` inferences on the same batch, as many in flight as the runtime wants (throughput)."""
        for _ in range(count):
            self(batch)

    def info(self) -> dict:
        return {"runtime": self.runtime, "version": self.version, "executed_precision": self.executed_precision,
                "layout": self.layout, "settings": getattr(self, "applied", {})}


class TorchRunner(Runner):
    runtime = "torch"

    def __init__(self, artifact: Artifact, settings: Settings):
        import torch

        self.torch = torch
        options = settings.of("torch")
        torch.set_num_threads(settings.n_threads)
        if options.get("inter_op_threads"):  # only possible before any inter-op work: a fresh process
            torch.set_num_interop_threads(int(options["inter_op_threads"]))
        self.version = torch.__version__
        from converters.torch_io import callable_module, load_torch

        self.model = callable_module(load_torch(artifact.path, artifact.meta.get("loader", "pickle")))
        self.applied = {"intra_op_threads": torch.get_num_threads(),
                        "inter_op_threads": torch.get_num_interop_threads()}

    def __call__(self, batch):
        with self.torch.inference_mode():
            out = self.model(self.torch.from_numpy(batch))
        out = out if isinstance(out, (tuple, list)) else [out]
        return [o.numpy() for o in out]


ORT_EXECUTION_MODES = {"sequential": "ORT_SEQUENTIAL", "parallel": "ORT_PARALLEL"}  # ort.ExecutionMode
ORT_OPTIMIZATION_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",  # ort.GraphOptimizationLevel
                           "extended": "ORT_ENABLE_EXTENDED", "layout": "ORT_ENABLE_LAYOUT", "all": "ORT_ENABLE_ALL"}


class OnnxRuntimeRunner(Runner):
    runtime = "onnxruntime"

    def __init__(self, artifact: Artifact, settings: Settings):
        import onnxruntime as ort

        options = settings.of("onnxruntime")
        level = options.get("graph_optimization_level", "all")
        mode = options.get("execution_mode", "sequential")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = settings.n_threads
        opts.inter_op_num_threads = int(options.get("inter_op_threads", 1))  # used by the parallel mode only
        opts.execution_mode = getattr(ort.ExecutionMode, ORT_EXECUTION_MODES[mode])
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, ORT_OPTIMIZATION_LEVELS[level])
        for key, value in (options.get("session_config") or {}).items():  # e.g. session.intra_op.allow_spinning
            opts.add_session_config_entry(str(key), str(value))
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(artifact.path, opts, providers=["CPUExecutionProvider"])
        self.version = ort.__version__
        self.input_name = self.session.get_inputs()[0].name
        self.executed_precision = artifact.precision
        self.applied = {"intra_op_threads": opts.intra_op_num_threads, "inter_op_threads": opts.inter_op_num_threads,
                        "execution_mode": mode, "graph_optimization_level": level,
                        "session_config": dict(options.get("session_config") or {})}

    def __call__(self, batch):
        return self.session.run(None, {self.input_name: batch})


OV_TYPE_NAMES = {"f32": "fp32", "f16": "fp16", "bf16": "bf16"}
OV_PRECISION_HINT = {"fp32": "f32", "fp16": "f32", "bf16": "bf16", "int8": "f32"}


class OpenVinoRunner(Runner):
    runtime = "openvino"

    def __init__(self, artifact: Artifact, settings: Settings):
        import openvino as ov

        self.version = ov.__version__
        options = settings.of("openvino")
        core = ov.Core()
        model = core.read_model(f"{artifact.path}/model.xml")
        port = model.inputs[0]
        shape = port.get_partial_shape()
        if settings.batch and len(model.inputs) == 1 and shape.rank.is_static and shape[0].is_dynamic:
            shape[0] = settings.batch  # what benchmark_app -shape does: a static batch compiles to faster code
            model.reshape({port: shape})
        hint = options.get(f"{settings.mode}_hint", {"latency": "LATENCY", "throughput": "THROUGHPUT"}[settings.mode])
        # Without an explicit precision hint a bf16-capable CPU silently executes in bf16: always say what we want.
        config = {"PERFORMANCE_HINT": hint, "INFERENCE_NUM_THREADS": settings.n_threads,
                  "INFERENCE_PRECISION_HINT": OV_PRECISION_HINT[settings.precision]}
        config.update(options.get("config") or {})  # compile properties verbatim; they win over ours
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.outputs = list(self.compiled.outputs)  # once: the port lookup is a binding call, not free per inference
        reported = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        self.executed_precision = OV_TYPE_NAMES.get(reported.to_string(), reported.to_string())
        if artifact.precision == "int8":  # quantized layers run int8; the hint covers the rest
            self.executed_precision = f"int8+{self.executed_precision}"
        self.requests = int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")) \
            if settings.mode == "throughput" else 1
        self.applied = {"PERFORMANCE_HINT": str(self.compiled.get_property("PERFORMANCE_HINT")),
                        "INFERENCE_NUM_THREADS": int(self.compiled.get_property("INFERENCE_NUM_THREADS")),
                        "NUM_STREAMS": int(self.compiled.get_property("NUM_STREAMS")),
                        "INFERENCE_PRECISION_HINT": reported.to_string(), "infer_requests": self.requests,
                        "input_shape": str(self.compiled.inputs[0].get_partial_shape()),
                        "config": dict(options.get("config") or {})}
        self._queue = None

    def __call__(self, batch):
        # share_inputs: the request reads our array in place (no input copy); the outputs are OpenVINO's own
        # copies already (share_outputs=False), so they are returned as they are, not copied a second time.
        results = self.request.infer({0: batch}, share_inputs=True)
        return [results[port] for port in self.outputs]

    def run_many(self, batch, count):
        if self.requests <= 1:
            return super().run_many(batch, count)
        import openvino as ov

        if self._queue is None:
            self._queue = ov.AsyncInferQueue(self.compiled, self.requests)
        for _ in range(count):
            self._queue.start_async({0: batch}, share_inputs=True)
        self._queue.wait_all()


# ---- TensorFlow and TFLite: onnx2tf made these NHWC, so the adapter maps tensors back onto the reference ----

class TensorMatchError(ValueError):
    """A runtime's tensors cannot be paired with the reference's unambiguously. We never guess: comparing the
    wrong tensors could pass by accident, or fail with an error that points at the wrong place."""


@dataclass(frozen=True)
class OutputPlan:
    name: str  # the runtime's own output name
    transpose: tuple[int, ...] | None  # axes that bring it into the reference's layout; None = already is


def channels_last(shape: list[int]) -> list[int]:
    """The shape onnx2tf gives a channels-first tensor: NCHW -> NHWC (NCW -> NWC, NCDHW -> NDHWC)."""
    return [shape[0], *shape[2:], shape[1]] if len(shape) >= 3 else list(shape)


def _fits(actual, expected) -> bool:
    if len(actual) != len(expected):
        return False
    return all(a == e or a < 0 or e < 0 for a, e in zip(actual, expected, strict=True))


def orientations(expected: list[int], actual: list[int]) -> list[tuple[int, ...] | None]:
    """Ways `actual` can be the reference tensor of shape `expected`: as is (None) and/or channels-last (the
    transpose back). Two ways = ambiguous (e.g. C == H == W), unless the transpose cannot move a value."""
    ways: list[tuple[int, ...] | None] = [None] if _fits(actual, expected) else []
    if len(expected) >= 3 and _fits(actual, channels_last(expected)):
        back = (0, len(expected) - 1, *range(1, len(expected) - 1))
        moving = [axis for axis in back if actual[axis] != 1]
        if not (ways and moving == sorted(moving)):  # a transpose over size-1 axes only is no transpose
            ways.append(back)
    return ways


def _sanitized(name: str) -> str:
    """'logits', 'Logits:0' (a TF tensor name), 'logits__0'... -> one spelling, to compare names by."""
    return re.sub(r"[^0-9a-z]+", "_", re.sub(r"(:|__)\d+$", "", name).lower()).strip("_")


POSITIONAL = re.compile(r"output_(\d+)|identity(?:_(\d+))?")


def _position(name: str) -> int | None:
    """onnx2tf's SavedModel signature names its outputs output_K and a signature-less TFLite file Identity,
    Identity_K: both mean the K-th output of the ONNX model, i.e. the K-th reference output."""
    match = POSITIONAL.fullmatch(name.lower())
    return int(match.group(1) or match.group(2) or 0) if match else None


def match_outputs(artifact: str, reference: list[TensorSpec], runtime: dict[str, list[int]]) -> list[OutputPlan]:
    """Pair each reference output with one runtime output: by (sanitized) name, then by onnx2tf's positional
    name, then by shape when exactly one candidate fits; each pair must fit as is or channels-last."""
    def fail(why: str):
        ref = ", ".join(f"{s.name}{list(s.shape)}" for s in reference)
        got = ", ".join(f"{n}{list(s)}" for n, s in runtime.items())
        raise TensorMatchError(f"{artifact}: cannot match its outputs to the reference ({why}); "
                               f"reference: {ref}; {artifact}: {got}")

    if len(runtime) != len(reference):
        fail(f"it has {len(runtime)} outputs, the reference {len(reference)}")
    by_name = {_sanitized(n): n for n in runtime}
    chosen: dict[int, str] = {}
    for i, spec in enumerate(reference):
        name = by_name.get(_sanitized(spec.name)) or next((n for n in runtime if _position(n) == i), None)
        if name is not None:
            chosen[i] = name
    for i, spec in enumerate(reference):
        if i not in chosen:
            free = [n for n in runtime if n not in chosen.values() and orientations(spec.shape, runtime[n])]
            if len(free) != 1:
                fail(f"{len(free)} unnamed outputs fit {spec.name!r} by shape: {free}")
            chosen[i] = free[0]
    if len(set(chosen.values())) != len(reference):
        fail("one output matched two reference outputs")
    plans = []
    for i, spec in enumerate(reference):
        name = chosen[i]
        ways = orientations(spec.shape, runtime[name])
        if not ways:
            fail(f"{name!r} (paired with {spec.name!r}) has shape {list(runtime[name])}, neither {spec.shape} "
                 f"nor channels-last {channels_last(spec.shape)}")
        if len(ways) > 1:
            fail(f"{name!r} of shape {list(runtime[name])} fits {spec.name!r} both as is and channels-last")
        plans.append(OutputPlan(name, ways[0]))
    return plans


def input_layout(artifact: Artifact, name: str, shape: list[int]) -> str:
    """NCHW or NHWC: what the runtime's input is, judged against the reference (NCHW) input."""
    if len(artifact.inputs) != 1:
        raise TensorMatchError(f"{artifact.name}: the TF adapters take one input; the reference has "
                               f"{[s.name for s in artifact.inputs]}")
    expected = artifact.inputs[0].shape
    ways = orientations(expected, shape)
    if len(ways) != 1:
        raise TensorMatchError(f"{artifact.name}: input {name!r} of shape {shape} fits the reference input "
                               f"{expected} {'both as is and channels-last' if ways else 'in no layout'}")
    return "NCHW" if ways[0] is None or len(shape) != 4 else "NHWC"


def _apply(plans: list[OutputPlan], outputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [outputs[p.name] if p.transpose is None else outputs[p.name].transpose(p.transpose) for p in plans]


class _MappedRunner(Runner):
    """A runner whose outputs went through match_outputs: info() says how each reference output was found."""

    reference: list[TensorSpec]
    plans: list[OutputPlan]

    def info(self) -> dict:
        return {**super().info(), "outputs": {ref.name: plan.name + (f" transposed {list(plan.transpose)}"
                                                                    if plan.transpose else "")
                                              for ref, plan in zip(self.reference, self.plans, strict=True)}}


def _shape(dims) -> list[int]:
    return [-1 if d is None or d < 0 else int(d) for d in dims]


class TensorFlowRunner(_MappedRunner):
    """The SavedModel's serving signature, called eagerly with one tensor."""

    runtime = "tensorflow"

    def __init__(self, artifact: Artifact, settings: Settings):
        import tensorflow as tf

        # Before anything runs: TF fixes its thread pools at first use.
        inter = int(settings.of("tensorflow").get("inter_op_threads", 1))
        tf.config.threading.set_intra_op_parallelism_threads(settings.n_threads)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
        self.applied = {"intra_op_threads": settings.n_threads, "inter_op_threads": inter}
        self.tf, self.version = tf, tf.__version__
        self.model = tf.saved_model.load(artifact.path)  # kept: the signature does not own the variables
        if "serving_default" not in self.model.signatures:
            raise TensorMatchError(f"{artifact.name}: the SavedModel has no serving_default signature "
                                   f"(it has {list(self.model.signatures)})")
        self.function = self.model.signatures["serving_default"]
        inputs = self.function.structured_input_signature[1]
        if len(inputs) != 1:
            raise TensorMatchError(f"{artifact.name}: the TF adapters take one input; it has {list(inputs)}")
        self.input_name, spec = next(iter(inputs.items()))
        self.layout = input_layout(artifact, self.input_name, _shape(spec.shape))
        outputs = {n: _shape(s.shape) for n, s in self.function.structured_outputs.items()}
        self.reference, self.plans = artifact.outputs, match_outputs(artifact.name, artifact.outputs, outputs)

    def __call__(self, batch):
        result = self.function(**{self.input_name: self.tf.constant(batch)})
        return _apply(self.plans, {name: tensor.numpy() for name, tensor in result.items()})


class TFLiteRunner(_MappedRunner):
    """ai-edge-litert's Interpreter (XNNPACK) with num_threads = the cores given to the runtime."""

    runtime = "tflite"
    # XNNPACK on this x86 CPU unpacks fp16 weights to fp32 at load and computes in fp32.
    executed_precision = "fp32"

    def __init__(self, artifact: Artifact, settings: Settings):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.version = metadata.version("ai-edge-litert")
        # XNNPACK is LiteRT's default CPU delegate; without it the builtin kernels run (slower, for comparison).
        xnnpack = bool(settings.of("tflite").get("xnnpack", True))
        resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        self.applied = {"num_threads": settings.n_threads, "xnnpack": xnnpack}
        if artifact.precision == "int8":  # full-integer file: int8 kernels, float32 only at the edges
            self.executed_precision = "int8"
        self.interpreter = Interpreter(model_path=artifact.path, num_threads=settings.n_threads,
                                       experimental_op_resolver_type=resolver)
        self.interpreter.allocate_tensors()
        signatures = self.interpreter.get_signature_list()
        if signatures:  # names output_K, and details whose order is not the outputs' order
            key = "serving_default" if "serving_default" in signatures else next(iter(signatures))
            runner = self.interpreter.get_signature_runner(key)
            inputs, outputs = runner.get_input_details(), runner.get_output_details()
        else:  # no signature (onnx2tf's own files): tensor names Identity, Identity_1, ...
            runner = None
            inputs = {d["name"]: d for d in self.interpreter.get_input_details()}
            outputs = {d["name"]: d for d in self.interpreter.get_output_details()}
        if len(inputs) != 1:
            raise TensorMatchError(f"{artifact.name}: the TF adapters take one input; it has {list(inputs)}")
        input_name, detail = next(iter(inputs.items()))
        self.input_index, self.input_shape = detail["index"], tuple(int(d) for d in detail["shape"])
        self.layout = input_layout(artifact, input_name, _shape(detail["shape_signature"]))
        self.reference = artifact.outputs
        self.plans = match_outputs(artifact.name, artifact.outputs,
                                   {n: _shape(d["shape_signature"]) for n, d in outputs.items()})
        self.output_index = {n: d["index"] for n, d in outputs.items()}
        if settings.batch and settings.batch != self.input_shape[0]:  # size the tensors once, at load
            del runner  # a signature runner holds views of the tensors; resizing refuses while they live
            self._resize((settings.batch, *self.input_shape[1:]))

    def _resize(self, shape: tuple[int, ...]) -> None:
        self.interpreter.resize_tensor_input(self.input_index, list(shape))
        self.interpreter.allocate_tensors()
        self.input_shape = tuple(shape)

    def __call__(self, batch):
        if batch.shape != self.input_shape:  # a dynamic axis: size the tensors for this batch
            self._resize(batch.shape)
        self.interpreter.set_tensor(self.input_index, batch)
        self.interpreter.invoke()
        return _apply(self.plans, {p.name: self.interpreter.get_tensor(self.output_index[p.name]) for p in self.plans})


RUNNERS = {"torch": TorchRunner, "onnx": OnnxRuntimeRunner, "openvino": OpenVinoRunner,
           "tf_savedmodel": TensorFlowRunner, "tflite": TFLiteRunner}


def load(artifact: Artifact, settings: Settings) -> Runner:
    try:
        runner_class = RUNNERS[artifact.format]
    except KeyError:
        raise ValueError(f"no runtime adapter for format {artifact.format!r}") from None
    return runner_class(artifact, settings)


def to_layout(batch: np.ndarray, layout: str) -> np.ndarray:
    """Canonical NCHW batch -> the layout a runner wants."""
    if layout == "NHWC" and batch.ndim == 4:
        return np.ascontiguousarray(batch.transpose(0, 2, 3, 1))
    return batch


def batch_refusal(artifact: Artifact, batch: int) -> str:
    """Why `artifact` cannot run `batch` images at once, or '' when it can: eager PyTorch takes any batch, an
    exported graph the batch it was exported with, or any when its batch axis is dynamic. A fixed batch is
    never reshaped here: shapes folded into the graph (a head's Reshape to [1, ...]) could run and be wrong."""
    if artifact.format == "torch" and artifact.meta.get("loader", "pickle") == "pickle":
        return ""
    fixed = artifact.inputs[0].shape[0] if artifact.inputs and artifact.inputs[0].shape else -1
    if fixed < 0 or fixed == batch:
        return ""
    return f"input batch fixed at {fixed} (a dynamic batch axis: graph.steps.export.dynamic_batch=true)"
