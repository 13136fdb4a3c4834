"""Read input/output names and shapes of an ONNX file (shared by the ONNX-producing steps)."""
from __future__ import annotations

from core.artifact import TensorSpec


def tensor_specs(model) -> tuple[list[TensorSpec], list[TensorSpec]]:
    init_names = {init.name for init in model.graph.initializer}

    def spec(value) -> TensorSpec:
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]
        return TensorSpec(value.name, dims, "NCHW" if len(dims) == 4 else "")

    inputs = [spec(v) for v in model.graph.input if v.name not in init_names]
    return inputs, [spec(v) for v in model.graph.output]


def opset_of(model) -> int:
    return next(op.version for op in model.opset_import if op.domain in ("", "ai.onnx"))
