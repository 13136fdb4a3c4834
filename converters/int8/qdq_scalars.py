"""A scalar multiply or add between two 8-bit tensors of a QDQ model, absorbed into the dequantization after it.

onnxruntime's quantizer turns x * a (a > 0) and x + b into an 8-bit pass of their own (QLinearMul, QLinearAdd) that
reads every value, rounds, and writes it again. Both are only a change of the tensor's scale and zero point:
a * s * (q - z) = (a * s) * (q - z) and s * (q - z) + b = s * (q - (z - b / s)). So the readers' DequantizeLinear
take the integers as they were with the new scale (or zero point), and the node and its QuantizeLinear go: one
pass fewer and one rounding fewer (an add's zero point is rounded to an integer, half a step at most, as the
QuantizeLinear it replaces rounded every value). PP-LCNetV3's learnable affine before each padded depthwise Conv is
such a pair; a Conv pads its 8-bit input with the zero point, so the padded border still reads as 0."""
from __future__ import annotations

import numpy as np

from converters.int8.onnx_graph import OnnxGraph

OPS = ("Mul", "Add")


def absorb_scalar_ops(model) -> int:
    """Rewrite `model` (an onnx ModelProto in QDQ form) in place; the number of nodes absorbed."""
    graph = _QDQGraph(model.graph)
    absorbed = 0
    for node in list(model.graph.node):
        if node.op_type in OPS and graph.absorb(node):
            absorbed += 1
    if absorbed:
        graph.drop_unread(("DequantizeLinear",))  # the dequantizations the absorbed nodes read
    return absorbed


class _QDQGraph(OnnxGraph):
    def per_tensor(self, node) -> tuple[float, np.ndarray] | None:
        """(scale, zero point) of a DequantizeLinear or QuantizeLinear with one scale and one zero point given as
        constants."""
        if node is None or node.op_type not in ("DequantizeLinear", "QuantizeLinear") or len(node.input) != 3:
            return None
        scale, zero = (self.constant(name) for name in node.input[1:])
        if scale is None or zero is None or scale.size != 1 or zero.size != 1:
            return None
        return float(scale.reshape(())), zero.reshape(())

    def constant_value(self, dequantize) -> float | None:
        """The float value of a scalar constant behind a DequantizeLinear."""
        params = self.per_tensor(dequantize) if dequantize.op_type == "DequantizeLinear" else None
        quantized = self.constant(dequantize.input[0]) if params else None
        if quantized is None or quantized.size != 1:
            return None
        scale, zero = params
        return scale * (float(quantized.reshape(())) - float(zero))

    def absorb(self, node) -> bool:
        inputs = [self.producer(name) for name in node.input]
        if len(inputs) != 2 or any(producer is None for producer in inputs):
            return False
        values = [self.constant_value(producer) for producer in inputs]
        if sum(value is not None for value in values) != 1:
            return False
        constant = next(value for value in values if value is not None)
        dequantize = inputs[0] if values[0] is None else inputs[1]
        params = self.per_tensor(dequantize) if dequantize.op_type == "DequantizeLinear" else None
        quantize = self.readers(node.output[0])
        if params is None or self.constant(dequantize.input[0]) is not None or node.output[0] in self.outputs \
                or len(quantize) != 1 or quantize[0].op_type != "QuantizeLinear":
            return False
        after = self.readers(quantize[0].output[0])
        if quantize[0].output[0] in self.outputs or not after or any(
                reader.op_type != "DequantizeLinear" or reader.input[0] != quantize[0].output[0] for reader in after):
            return False
        scale, zero = params
        if node.op_type == "Mul":
            if not constant > 0:
                return False
            scale *= constant
        else:
            shifted = round(float(zero) - constant / scale)
            limits = np.iinfo(zero.dtype)
            if not limits.min <= shifted <= limits.max:
                return False
            zero = np.asarray(shifted, zero.dtype)
        if not self.within(quantize[0], scale, zero):
            return False
        scale_name = self.add_constant(f"{node.name}_absorbed_scale", scale)
        zero_name = self.add_constant(f"{node.name}_absorbed_zero_point", zero, zero.dtype)
        for reader in after:
            reader.input[0], reader.input[1], reader.input[2] = dequantize.input[0], scale_name, zero_name
        self.graph.node.remove(node)
        self.graph.node.remove(quantize[0])
        return True

    def within(self, quantize, scale: float, zero: np.ndarray) -> bool:
        """Every value the new scale and zero point can express is one the QuantizeLinear expressed (to a step):
        else it clipped there, and that clip did work (a Clip after x + 3 is folded into the range it quantizes
        to), which absorbing would drop."""
        params = self.per_tensor(quantize)
        if params is None:
            return False
        out_scale, out_zero = params
        limits = np.iinfo(zero.dtype)
        low, high = (scale * (bound - float(zero)) for bound in (limits.min, limits.max))
        out_low, out_high = (out_scale * (bound - float(out_zero)) for bound in (limits.min, limits.max))
        return out_low - out_scale <= low and high <= out_high + out_scale
