"""Read input/output names, shapes and dtypes of an ONNX file (shared by the ONNX-producing steps)."""
from __future__ import annotations

from core.artifact import TensorSpec, image_layout

# ONNX TensorProto element types convgraph feeds and compares, by numpy name
DTYPES = {1: "float32", 10: "float16", 11: "float64", 7: "int64", 6: "int32", 3: "int8", 2: "uint8", 9: "bool"}


def tensor_specs(model) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """(inputs, outputs): -1 for a dynamic dimension; an input image's layout (NCHW / NHWC) where it has one."""
    init_names = {init.name for init in model.graph.initializer}

    def spec(value, is_input: bool) -> TensorSpec:
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in tensor.shape.dim]
        dtype = DTYPES.get(tensor.elem_type, f"onnx:{tensor.elem_type}")
        layout = image_layout(dims, dtype) if is_input else ("NCHW" if len(dims) == 4 else "")
        return TensorSpec(value.name, dims, layout, dtype)

    inputs = [spec(v, True) for v in model.graph.input if v.name not in init_names]
    return inputs, [spec(v, False) for v in model.graph.output]


def opset_of(model) -> int:
    return next(op.version for op in model.opset_import if op.domain in ("", "ai.onnx"))
