"""One peer of tools/peers.py in this (child) process: `python -m tools.peers_run REQUEST.json`.

A peer is what a user runs instead of convgraph, loaded the way that user would load it (no options given):
OpenVINO's `compile_model(onnx, "CPU")`, ONNX Runtime's `InferenceSession(onnx)`, LiteRT's `Interpreter(tflite)` on
onnx2tf's own float32 file, Ultralytics' AutoBackend (its predictor's inference step) on its own export; and
convgraph's pick through runtimes.load with the run's settings. Each runs every sample of the run's inputs.npz (one
call each, as runtimes.infer does: the outputs are judged in the parent) and is then timed by bench.timing's shared
loop on the first sample, as bench.worker times convgraph's rows. One process per peer: torch, TensorFlow and
the runtimes never meet.
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np

from bench.timing import OtherLoad, summarize, timed_loop
from core.artifact import Artifact
from core.samples import call, samples_in, stacked
from runtimes.base import Runner, Settings, for_runner


class OpenVinoDefault(Runner):
    """`ov.Core().compile_model(onnx, "CPU")`: no hint, so the plugin picks the precision (bf16 where the CPU
    has it)."""

    runtime = "openvino"

    def __init__(self, artifact: Artifact):
        import openvino as ov

        self.version = ov.__version__
        self.compiled = ov.Core().compile_model(artifact.path, "CPU")
        self.request = self.compiled.create_infer_request()
        self.outputs = list(self.compiled.outputs)
        self.executed_precision = hint_of(self.compiled)
        self.applied = {"PERFORMANCE_HINT": str(self.compiled.get_property("PERFORMANCE_HINT")),
                        "INFERENCE_NUM_THREADS": int(self.compiled.get_property("INFERENCE_NUM_THREADS"))}

    def __call__(self, inputs):
        answer = self.request.infer(inputs)
        return [answer[port] for port in self.outputs]


class OnnxRuntimeDefault(Runner):
    """`ort.InferenceSession(onnx)`: no session options (its own thread count and graph optimizations)."""

    runtime = "onnxruntime"

    def __init__(self, artifact: Artifact):
        import onnxruntime as ort

        self.version = ort.__version__
        self.session = ort.InferenceSession(artifact.path)
        self.applied = {"providers": self.session.get_providers()}

    def __call__(self, inputs):
        return self.session.run(None, inputs)


class LiteRtDefault(Runner):
    """`Interpreter(model_path)` on onnx2tf's float32 file (NHWC in, outputs named Identity*), default threads; the
    inputs are fed and the outputs mapped onto the reference's as convgraph's TFLite runner does (runtimes.matching)."""

    runtime = "tflite"

    def __init__(self, artifact: Artifact):
        from importlib import metadata

        from ai_edge_litert.interpreter import Interpreter

        from runtimes.matching import match_inputs, match_outputs, shape_of

        self.version = metadata.version("ai-edge-litert")
        self.interpreter = Interpreter(model_path=artifact.path)
        self.interpreter.allocate_tensors()
        inputs = {d["name"]: d for d in self.interpreter.get_input_details()}
        outputs = {d["name"]: d for d in self.interpreter.get_output_details()}
        pairs = match_inputs(artifact, {n: shape_of(d["shape_signature"]) for n, d in inputs.items()})
        self.index = {ours: inputs[theirs]["index"] for ours, (theirs, _) in pairs.items()}
        self.layouts = {ours: layout for ours, (_, layout) in pairs.items() if layout}
        self.plans = match_outputs(artifact.name, artifact.outputs,
                                   {n: shape_of(d["shape_signature"]) for n, d in outputs.items()})
        self.output_index = {n: d["index"] for n, d in outputs.items()}
        self.applied = {"num_threads": "default"}

    def __call__(self, inputs):
        from runtimes.matching import apply_plans

        for name, value in inputs.items():
            if tuple(self.interpreter.get_tensor(self.index[name]).shape) != value.shape:
                self.interpreter.resize_tensor_input(self.index[name], list(value.shape))
                self.interpreter.allocate_tensors()
            self.interpreter.set_tensor(self.index[name], value)
        self.interpreter.invoke()
        return apply_plans(self.plans, {p.name: self.interpreter.get_tensor(self.output_index[p.name])
                                        for p in self.plans})


class UltralyticsBackend(Runner):
    """Ultralytics' predictor's inference step on its own export (models/ultralytics.py: the only importer of it)."""

    def __init__(self, artifact: Artifact):
        from models import SOURCES

        # imported by name, as models.build_model does: only a yolo peer's process loads the AGPL package
        self.backend = importlib.import_module(SOURCES["ultralytics"]).PredictorBackend(artifact.path)
        self.version, self.executed_precision = self.backend.version, self.backend.executed
        self.runtime = "openvino" if artifact.format == "openvino" else "onnxruntime"
        self.applied = {"backend": self.backend.name}

    def __call__(self, inputs):
        return self.backend(next(iter(inputs.values())))


def hint_of(compiled) -> str:
    """What OpenVINO reports it executes in: f32 -> fp32, bf16 -> bf16."""
    reported = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
    return {"f32": "fp32", "f16": "fp16"}.get(reported, reported)


PEERS = {"openvino": OpenVinoDefault, "onnxruntime": OnnxRuntimeDefault, "tflite": LiteRtDefault,
         "ultralytics": UltralyticsBackend}


def load_peer(request: dict) -> Runner:
    artifact = Artifact.from_dict(request["artifact"])
    if request["peer"] == "convgraph":
        from runtimes import load

        return load(artifact, Settings(**request["settings"]))
    return PEERS[request["peer"]](artifact)


def main(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    with np.load(request["inputs"]) as data:
        arrays = {name: data[name] for name in data.files}
    runner = load_peer(request)
    outputs = stacked([runner(for_runner(runner, call(arrays, i))) for i in range(samples_in(arrays))])
    np.savez(request["outputs"], *outputs)
    first = for_runner(runner, call(arrays, 0))
    with OtherLoad() as load_elsewhere:
        loop = timed_loop(runner, lambda: (first, None), lambda out, meta: None, request["warmup"], request["runs"])
    result = {"runtime": runner.runtime, "version": runner.version, "executed": runner.executed_precision,
              "settings": dict(runner.applied), "infer_ms": summarize(loop.infer_ms),
              "other_load_cores": load_elsewhere.cores}
    Path(request["result"]).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
