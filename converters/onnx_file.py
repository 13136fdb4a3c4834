"""Source step: start a graph from an existing ONNX file (`model=onnx model.path=FILE.onnx`).

The file is checked and copied into the step's own dir, so the artifact (and the cache entry) does not
change when the user's file does. The reference runtime is then onnxruntime on this file. A file that already
holds quantization ops (QuantizeLinear, ConvInteger, com.microsoft DynamicQuantizeLSTM, ...) is recorded
`quantized` in its meta: what is converted from it is judged as int8 (pipeline/checks.py).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from converters.step_io.onnx_io import opset_of, quantization_ops, tensor_specs
from converters.step_io.step_inputs import SourceOptions, StepInputs
from core.artifact import Artifact
from core.errors import UserError, first_line

PACKAGES = ("onnx",)  # its version is part of this step's cache key
CODE = ("converters.step_io.onnx_io",)  # so is what reads the file's tensors and quantization ops
Options = SourceOptions


def convert(source: None, options: SourceOptions, run: StepInputs, workdir: Path) -> list[Artifact]:
    import onnx

    path = options.model["path"]
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model)
    except Exception as error:  # protobuf DecodeError, ValidationError, ...: all mean "not a usable ONNX"
        first = first_line(error)
        raise UserError(f"model.path={path!r} is not a valid ONNX file: {first}") from error
    target = workdir / "model.onnx"
    shutil.copyfile(path, target)
    inputs, outputs = tensor_specs(model)
    quantized = quantization_ops(model)
    return [Artifact(name="model", format="onnx", path=str(target), inputs=inputs, outputs=outputs,
                     meta={"opset": opset_of(model), "nodes": len(model.graph.node), "origin": path,
                           "quantized": bool(quantized), **({"quantization_ops": quantized} if quantized else {})})]
