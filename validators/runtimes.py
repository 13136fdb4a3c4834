"""Runtime adapters: `load(artifact, settings)` -> a Runner that maps one input batch to the model's outputs.

Parity and timing both go through here, so they measure the same thing. A Runner hides its runtime's
input layout (it says which layout it wants in `.layout`; the caller prepares inputs so), input/output
names and dtype; it returns outputs in the reference's order and layout.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from core.artifact import Artifact

RUNTIME_OF_FORMAT = {"torch": "torch", "onnx": "onnxruntime", "openvino": "openvino",
                     "tf_savedmodel": "tensorflow", "tflite": "tflite"}


@dataclass
class Settings:
    threads: int = 0  # 0 = all cores
    precision: str = "fp32"  # what the runtime is asked to execute in
    options: dict = field(default_factory=dict)

    @property
    def n_threads(self) -> int:
        return self.threads or os.cpu_count() or 1


class Runner:
    layout = "NCHW"
    executed_precision = "fp32"
    runtime = ""
    version = ""

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def info(self) -> dict:
        return {"runtime": self.runtime, "version": self.version,
                "executed_precision": self.executed_precision, "layout": self.layout}


class TorchRunner(Runner):
    runtime = "torch"

    def __init__(self, artifact: Artifact, settings: Settings):
        import torch

        self.torch = torch
        torch.set_num_threads(settings.n_threads)
        self.version = torch.__version__
        self.model = torch.load(artifact.path, weights_only=False).eval()

    def __call__(self, batch):
        with self.torch.inference_mode():
            out = self.model(self.torch.from_numpy(batch))
        out = out if isinstance(out, (tuple, list)) else [out]
        return [o.numpy() for o in out]


class OnnxRuntimeRunner(Runner):
    runtime = "onnxruntime"

    def __init__(self, artifact: Artifact, settings: Settings):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = settings.n_threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(artifact.path, opts, providers=["CPUExecutionProvider"])
        self.version = ort.__version__
        self.input_name = self.session.get_inputs()[0].name
        self.executed_precision = artifact.precision

    def __call__(self, batch):
        return self.session.run(None, {self.input_name: batch})


OV_TYPE_NAMES = {"f32": "fp32", "f16": "fp16", "bf16": "bf16"}
OV_PRECISION_HINT = {"fp32": "f32", "fp16": "f32", "bf16": "bf16", "int8": "f32"}


class OpenVinoRunner(Runner):
    runtime = "openvino"

    def __init__(self, artifact: Artifact, settings: Settings):
        import openvino as ov

        self.version = ov.__version__
        core = ov.Core()
        # Without an explicit hint this CPU silently executes in bf16: always say what we want.
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": settings.n_threads,
                  "INFERENCE_PRECISION_HINT": OV_PRECISION_HINT[settings.precision]}
        config.update(settings.options.get("openvino", {}))
        self.compiled = core.compile_model(f"{artifact.path}/model.xml", "CPU", config)
        self.request = self.compiled.create_infer_request()
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        self.executed_precision = OV_TYPE_NAMES.get(hint.to_string(), hint.to_string())
        if artifact.precision == "int8":  # quantized layers run int8; the hint covers the rest
            self.executed_precision = f"int8+{self.executed_precision}"

    def __call__(self, batch):
        results = self.request.infer({0: batch})
        return [np.array(results[port]) for port in self.compiled.outputs]


RUNNERS = {"torch": TorchRunner, "onnx": OnnxRuntimeRunner, "openvino": OpenVinoRunner}


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
