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


# Ops whose presence means a file already computes in integers (quantized by its maker): ONNX's own, and
# onnxruntime's com.microsoft ones. Matched by name: QuickGelu is com.microsoft and starts with Q, but is float.
QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ConvInteger", "MatMulInteger"}
QUANTIZED_MS_OPS = {"DynamicQuantizeLSTM", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QAttention", "QGemm",
                    "QEmbedLayerNormalization", "QOrderedAttention", "QOrderedGelu", "QOrderedLayerNormalization",
                    "QOrderedLongformerAttention", "QOrderedMatMul", "QMoE", "MatMulNBits", "MatMulBnb4",
                    "GatherBlockQuantized", "QuantizeBFP", "DequantizeBFP"}


def quantization_ops(model) -> list[str]:
    """The quantization ops a model holds (subgraphs of If / Loop / Scan included), sorted; [] for a float model."""
    found = set()
    graphs = [model.graph]
    while graphs:
        for node in graphs.pop().node:
            op, domain = node.op_type, node.domain or "ai.onnx"
            ms_op = domain == "com.microsoft" and op in QUANTIZED_MS_OPS
            if op in QUANTIZED_OPS or op.startswith("QLinear") or ms_op:
                found.add(op if domain == "ai.onnx" else f"{domain}.{op}")
            graphs += [attr.g for attr in node.attribute if attr.HasField("g")]
            graphs += [g for attr in node.attribute for g in attr.graphs]
    return sorted(found)
