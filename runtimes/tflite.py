"""TensorFlow Lite through ai-edge-litert's Interpreter (XNNPACK), on a .tflite file made from onnx2tf's
SavedModel (NHWC; outputs mapped back onto the reference through runtimes.matching) or by litert-torch (NCHW,
tensors named like the reference's; an int8 file there has int8 input and output tensors, which get the float
batch quantized with the file's own scale and zero point, and give their values back dequantized)."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

import numpy as np

from core.artifact import Artifact
from runtimes.base import Runtime, Settings
from runtimes.matching import MappedRunner, apply_plans, match_inputs, match_outputs, scalars_of, shape_of


@dataclass(frozen=True)
class Options:
    """bench.runtime.tflite"""

    xnnpack: bool = True  # false: LiteRT's builtin kernels without the XNNPACK delegate

    def __post_init__(self):
        if not isinstance(self.xnnpack, bool):
            raise ValueError(f"xnnpack={self.xnnpack!r} is not allowed; allowed: True, False")


class TFLiteRunner(MappedRunner):
    """ai-edge-litert's Interpreter (XNNPACK) with num_threads = the cores given to the runtime."""

    runtime = "tflite"
    # XNNPACK on this x86 CPU unpacks fp16 weights to fp32 at load and computes in fp32.
    executed_precision = "fp32"

    def __init__(self, artifact: Artifact, settings: Settings):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.version = metadata.version("ai-edge-litert")
        # XNNPACK is LiteRT's default CPU delegate; without it the builtin kernels run (slower, for comparison).
        xnnpack = settings.of(RUNTIME).xnnpack
        resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        self.applied = {"num_threads": settings.n_threads, "xnnpack": xnnpack}
        if artifact.precision == "int8":  # full-integer file: int8 kernels, float32 only at the edges
            # ... unless an accuracy-aware conversion kept layers in float (float kernels for those)
            aware = artifact.meta.get("accuracy_aware") or {}
            self.executed_precision = "int8+fp32" if aware.get("kept_in_float") or aware.get(
                "ops_kept_in_float") else "int8"
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
        signature = {n: shape_of(d["shape_signature"]) for n, d in inputs.items()}
        pairs = match_inputs(artifact, signature)
        self.scalars = scalars_of(artifact, signature, pairs)  # rank-0 inputs the file takes as [1]
        self.index = {ours: inputs[theirs]["index"] for ours, (theirs, _) in pairs.items()}
        self.dtype = {ours: inputs[theirs]["dtype"] for ours, (theirs, _) in pairs.items()}
        self.shape = {ours: tuple(int(d) for d in inputs[theirs]["shape"]) for ours, (theirs, _) in pairs.items()}
        self.layouts = {ours: layout for ours, (_, layout) in pairs.items() if layout}
        # a full-integer file's int8 edges: (scale, zero point) of each quantized input and output
        self.quantized = {ours: inputs[theirs]["quantization"] for ours, (theirs, _) in pairs.items()
                          if quantized(inputs[theirs])}
        self.dequantized = {n: d["quantization"] for n, d in outputs.items() if quantized(d)}
        if self.quantized or self.dequantized:
            self.applied["quantized_io"] = "float in and out, through the file's int8 scales"
        self.reference = artifact.outputs
        self.plans = match_outputs(artifact.name, artifact.outputs,
                                   {n: shape_of(d["shape_signature"]) for n, d in outputs.items()})
        self.output_index = {n: d["index"] for n, d in outputs.items()}
        wanted = {name: tuple(settings.shapes[name]) for name in self.index if name in settings.shapes}
        wanted = {name: self._in_layout(name, shape) for name, shape in wanted.items()}
        if any(wanted[name] != self.shape[name] for name in wanted):  # size the tensors once, at load
            del runner  # a signature runner holds views of the tensors; resizing refuses while they live
            self._resize(wanted)

    def _in_layout(self, name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
        """A shape given in the reference's layout, in the interpreter's."""
        if name in self.scalars:
            return (1,)
        if self.layouts.get(name) == "NHWC" and len(shape) == 4:
            return shape[0], shape[2], shape[3], shape[1]
        return shape

    def _resize(self, shapes: dict[str, tuple[int, ...]]) -> None:
        for name, shape in shapes.items():
            self.interpreter.resize_tensor_input(self.index[name], list(shape))
            self.shape[name] = tuple(shape)
        self.interpreter.allocate_tensors()

    def __call__(self, inputs):
        if self.scalars:
            inputs = {n: a.reshape(1) if n in self.scalars else a for n, a in inputs.items()}
        changed = {name: value.shape for name, value in inputs.items() if value.shape != self.shape[name]}
        if changed:  # a dynamic axis: size the tensors for this batch
            self._resize(changed)
        for name, value in inputs.items():
            if name in self.quantized:
                value = quantize(value, *self.quantized[name], self.dtype[name])
            # e.g. int64 token ids into an int32 tensor: the values are the same (ids fit in 32 bits)
            self.interpreter.set_tensor(self.index[name], value if value.dtype == self.dtype[name]
                                        else value.astype(self.dtype[name]))
        self.interpreter.invoke()
        outputs = {p.name: self.interpreter.get_tensor(self.output_index[p.name]) for p in self.plans}
        for name, (scale, zero_point) in self.dequantized.items():
            outputs[name] = ((outputs[name].astype(np.float32) - zero_point) * scale).astype(np.float32)
        return apply_plans(self.plans, outputs)


def quantized(detail: dict) -> bool:
    """A tensor that holds quantized values (an int8 edge of a full-integer file), not plain integers."""
    scale, _ = detail.get("quantization") or (0.0, 0)
    return np.issubdtype(detail["dtype"], np.integer) and scale != 0


def quantize(value: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    limits = np.iinfo(dtype)
    return np.clip(np.round(value / scale) + zero_point, limits.min, limits.max).astype(dtype)


def bare_loop(artifact: Artifact, inputs: dict, threads: int):
    """One input (fidelity measures image models), already in the interpreter's layout (and quantized once, up
front, for a file with int8 input tensors: what a caller of the bare interpreter would feed it)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=artifact.path, num_threads=threads)
    interpreter.allocate_tensors()
    feed = [(d["index"], quantize(value, *d["quantization"], d["dtype"]) if quantized(d) else value)
            for d, value in zip(interpreter.get_input_details(), inputs.values(), strict=True)]
    outputs = [d["index"] for d in interpreter.get_output_details()]

    def invoke():
        for index, value in feed:
            interpreter.set_tensor(index, value)
        interpreter.invoke()
        return [interpreter.get_tensor(i) for i in outputs]
    return invoke


def profile(artifact: Artifact, settings: Settings, inputs: dict, runs: int, onnx: str | None = None) -> dict:
    """Per op, each timed alone in a one-op model cut from the file (runtimes/tflite_profile.py: LiteRT's Python
    Interpreter has no op-level timing), with the runner's threads and op resolver."""
    from runtimes.tflite_profile import op_profile  # not at module level: a deploy bundle ships no profiler

    runner = TFLiteRunner(artifact, settings)
    return op_profile(runner, artifact.path, settings, inputs, runs, onnx, settings.of(RUNTIME).xnnpack)


RUNTIME = Runtime(name="tflite", label="TensorFlow Lite", format="tflite", packages=("ai-edge-litert",),
                  runner=TFLiteRunner, options=Options, bare_loop=bare_loop, profile=profile,
                  tunables=({"xnnpack": False},))  # LiteRT's builtin kernels: faster than XNNPACK for some ops
