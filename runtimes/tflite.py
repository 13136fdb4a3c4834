"""TensorFlow Lite through ai-edge-litert's Interpreter (XNNPACK), on a .tflite file made from onnx2tf's
SavedModel (NHWC; outputs mapped back onto the reference through runtimes.matching)."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from core.artifact import Artifact
from runtimes.base import Runtime, Settings
from runtimes.matching import MappedRunner, TensorMatchError, apply_plans, input_layout, match_outputs, shape_of


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
        self.layout = input_layout(artifact, input_name, shape_of(detail["shape_signature"]))
        self.reference = artifact.outputs
        self.plans = match_outputs(artifact.name, artifact.outputs,
                                   {n: shape_of(d["shape_signature"]) for n, d in outputs.items()})
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
        return apply_plans(self.plans, {p.name: self.interpreter.get_tensor(self.output_index[p.name])
                                        for p in self.plans})


def bare_loop(artifact: Artifact, x, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=artifact.path, num_threads=threads)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    outputs = [d["index"] for d in interpreter.get_output_details()]

    def invoke():
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        return [interpreter.get_tensor(i) for i in outputs]
    return invoke


RUNTIME = Runtime(name="tflite", label="TensorFlow Lite", format="tflite", packages=("ai-edge-litert",),
                  runner=TFLiteRunner, options=Options, bare_loop=bare_loop)
