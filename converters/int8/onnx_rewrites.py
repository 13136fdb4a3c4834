"""The float ONNX as onnxruntime's quantizer needs it: exact rewrites made before quantizing, each one a tensor
fewer to requantize at run time. ONNX Runtime fuses these itself in float (a Conv's bias add, x / 6 of a hard
swish), but not once Q/DQ pairs sit between the nodes: each unfused node then runs as an 8-bit pass of its own,
rounding once more. Every rewrite keeps the model's function (up to float rounding)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from converters.int8.onnx_graph import OnnxGraph
from core.errors import StepFailed

PER_CHANNEL_OPSET = 13  # DequantizeLinear's `axis` (per-channel weights) exists from opset 13


def prepared_for_quantization(path: str, workdir: Path) -> tuple[str, dict]:
    """(the model as the quantizer needs it, what was changed, for the meta). Weights held by Constant nodes become
    initializers: the quantizer takes only initializers for weights and biases, and quantizes any other input as an
    activation, per tensor, at every call (paddle2onnx writes every weight as a Constant node). An opset below 13 is
    upgraded (paddle2onnx and others write 11-12: their per-channel int8 model would be invalid) with onnx's version
    converter. Then the folds below."""
    import onnx

    from converters.step_io.onnx_io import opset_of

    model = onnx.load(path)
    changed = {}
    moved = constants_to_initializers(model.graph)
    if moved:
        changed["constants_made_initializers"] = moved
    if opset_of(model) < PER_CHANNEL_OPSET:
        try:
            model = onnx.version_converter.convert_version(model, PER_CHANNEL_OPSET)
        except Exception as error:  # the converter refuses some ops: say which, one line
            raise StepFailed(f"int8 needs opset >= {PER_CHANNEL_OPSET} (per-channel weights); onnx's version "
                             f"converter could not upgrade opset {opset_of(model)}: "
                             f"{str(error).splitlines()[0]}") from error
        changed["opset_upgraded_to"] = PER_CHANNEL_OPSET
    folded = fold_for_quantization(model.graph)
    if folded:
        changed["folded_before_quantization"] = folded
    if not changed:
        return path, {}
    prepared = workdir / "float_prepared.onnx"
    onnx.save(model, str(prepared))
    return str(prepared), changed


def constants_to_initializers(graph) -> int:
    """Move each top-level Constant node holding a tensor (`value`) into the graph's initializers, under its output's
    name; the number moved."""
    import onnx

    kept, moved = [], 0
    for node in graph.node:
        if node.op_type == "Constant" and [a.name for a in node.attribute] == ["value"]:
            tensor = onnx.TensorProto()
            tensor.CopyFrom(node.attribute[0].t)
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
            moved += 1
        else:
            kept.append(node)
    if moved:
        del graph.node[:]
        graph.node.extend(kept)
    return moved


def fold_for_quantization(graph) -> dict[str, int]:
    """Apply the folds in turn; how many of each were made (only the ones that were)."""
    folds = _Graph(graph)
    made = {"hard_activations_spelled_out": folds.hard_activations_spelled_out(),
            "division_as_multiplication": folds.divisions_as_multiplications(),
            "scalar_multiplications_merged": folds.scalar_multiplications_merged(),
            "scalar_multiplications_into_conv": folds.scalar_multiplications_into_conv_before(),
            "constant_adds_into_conv_bias": folds.constant_adds_into_conv_bias(),
            "scalar_affines_into_unpadded_conv": folds.scalar_affines_into_unpadded_convs()}
    if any(made.values()):
        folds.drop_unread()
    return {name: count for name, count in made.items() if count}


class _Graph(OnnxGraph):
    """The folds; each keeps the nodes in topological order (a node's outputs are renamed to the output of the node
    it absorbs, which comes later)."""

    def scalar_input(self, node) -> tuple[str, str] | None:
        """(the other input, the scalar constant's name) of a two-input node with one float scalar constant."""
        values = [self.constant(name) for name in node.input]
        if len(node.input) != 2 or sum(value is not None for value in values) != 1:
            return None
        index = 0 if values[0] is not None else 1
        value = values[index]
        if value.size != 1 or value.dtype != np.float32:
            return None
        return node.input[1 - index], node.input[index]

    def hard_activations_spelled_out(self) -> int:
        """HardSwish(x) -> x * clip(x + 3, 0, 6) * (1/6); HardSigmoid(x) -> clip(x * alpha + beta, 0, 1).
        onnxruntime has no 8-bit kernel for either, so each ran in float between a DequantizeLinear and a
        QuantizeLinear; spelled out, every part has one (the Clip becomes the range quantized to, the scalar
        multiplications join a scale: converters/int8/qdq_scalars.py)."""
        from onnx import helper

        count, nodes = 0, []
        for node in self.graph.node:
            if node.op_type not in ("HardSwish", "HardSigmoid") or node.domain not in ("", "ai.onnx"):
                nodes.append(node)
                continue
            x, y, name = node.input[0], node.output[0], node.name or f"hard_{count}"
            if node.op_type == "HardSwish":
                three, zero, six, sixth = (self.add_constant(f"{name}_{label}", np.float32(value)) for label, value
                                           in (("three", 3.0), ("zero", 0.0), ("six", 6.0), ("sixth", 1 / 6)))
                nodes += [helper.make_node("Add", [x, three], [f"{name}_plus3"], name=f"{name}_plus3"),
                          helper.make_node("Clip", [f"{name}_plus3", zero, six], [f"{name}_clip"], name=f"{name}_clip"),
                          helper.make_node("Mul", [x, f"{name}_clip"], [f"{name}_times"], name=f"{name}_times"),
                          helper.make_node("Mul", [f"{name}_times", sixth], [y], name=f"{name}_sixth")]
            else:
                attributes = {attribute.name: attribute.f for attribute in node.attribute}
                alpha, beta, zero, one = (self.add_constant(f"{name}_{label}", np.float32(value)) for label, value
                                          in (("alpha", attributes.get("alpha", 0.2)),
                                              ("beta", attributes.get("beta", 0.5)), ("zero", 0.0), ("one", 1.0)))
                nodes += [helper.make_node("Mul", [x, alpha], [f"{name}_scaled"], name=f"{name}_scaled"),
                          helper.make_node("Add", [f"{name}_scaled", beta], [f"{name}_shifted"],
                                           name=f"{name}_shifted"),
                          helper.make_node("Clip", [f"{name}_shifted", zero, one], [y], name=f"{name}_clip")]
            count += 1
        if count:
            del self.graph.node[:]
            self.graph.node.extend(nodes)
        return count

    def divisions_as_multiplications(self) -> int:
        """x / c with c a float constant -> x * (1 / c): onnxruntime quantizes Mul, not Div."""
        count = 0
        for node in self.graph.node:
            divisor = self.constant(node.input[1]) if node.op_type == "Div" else None
            if divisor is None or divisor.dtype != np.float32 or not np.all(divisor != 0):
                continue
            node.op_type = "Mul"
            node.input[1] = self.add_constant(f"{node.name}_reciprocal", 1.0 / divisor)
            count += 1
        return count

    def scalar_multiplications_merged(self) -> int:
        """(y * a) * b with scalars a, b -> y * (a * b), when y * a has no other reader."""
        count = 0
        for second in list(self.graph.node):
            outer = self.scalar_input(second) if second.op_type == "Mul" else None
            first = self.producer(outer[0]) if outer else None
            inner = self.scalar_input(first) if first is not None and first.op_type == "Mul" else None
            if inner is None or not self.only_use(first.output[0], second):
                continue
            product = self.constant(inner[1]) * self.constant(outer[1])  # the larger rank, as before
            first.input[list(first.input).index(inner[1])] = self.add_constant(f"{second.name}_merged", product)
            first.output[0] = second.output[0]
            self.graph.node.remove(second)
            count += 1
        return count

    def scalar_multiplications_into_conv_before(self) -> int:
        """Conv(x) * a, a a scalar, the Conv read by nothing else -> Conv with weights and bias times a."""
        count = 0
        for mul in list(self.graph.node):
            scaled = self.scalar_input(mul) if mul.op_type == "Mul" else None
            conv = self.producer(scaled[0]) if scaled else None
            if not self._constant_conv(conv) or not self.only_use(conv.output[0], mul):
                continue
            scale = self.constant(scaled[1]).reshape(())
            conv.input[1] = self.add_constant(f"{conv.name}_weights_times", self.constant(conv.input[1]) * scale)
            self._set_bias(conv, self._bias(conv) * scale, f"{conv.name}_bias_times")
            conv.output[0] = mul.output[0]
            self.graph.node.remove(mul)
            count += 1
        return count

    def constant_adds_into_conv_bias(self) -> int:
        """Conv(x) + c, c a scalar or one value per output channel -> Conv(x) with c added to its bias."""
        count = 0
        for add in list(self.graph.node):
            if add.op_type != "Add" or len(add.input) != 2:
                continue
            first = self.producer(add.input[0])
            conv_output, added = (add.input[0], add.input[1]) if first is not None and first.op_type == "Conv" else \
                (add.input[1], add.input[0])
            conv, added = self.producer(conv_output), self.constant(added)
            if added is None or not self._constant_conv(conv) or not self.only_use(conv_output, add) \
                    or not _per_channel(added, self.constant(conv.input[1]).shape):
                continue
            self._set_bias(conv, self._bias(conv) + added.reshape(-1), f"{conv.name}_bias_folded")
            conv.output[0] = add.output[0]
            self.graph.node.remove(add)
            count += 1
        return count

    def scalar_affines_into_unpadded_convs(self) -> int:
        """x * a + b or x * a (scalars) read only by Convs without padding -> those Convs with weights W * a and
        bias + b * sum(W) per output channel. Exact only without padding: a padded border would add b * W too."""
        count = 0
        for mul in list(self.graph.node):
            scaled = self.scalar_input(mul) if mul.op_type == "Mul" else None
            readers = self.readers(mul.output[0]) if scaled else []
            add = readers[0] if len(readers) == 1 and readers[0].op_type == "Add" else None
            shifted = self.scalar_input(add) if add is not None and mul.output[0] in add.input else None
            last = add if shifted else mul  # x * a alone, or x * a + b
            convs = self.readers(last.output[0]) if scaled else []
            if not convs or last.output[0] in self.outputs or not all(self._unpadded_reader(conv, last.output[0])
                                                                      for conv in convs):
                continue
            scale = self.constant(scaled[1]).reshape(())
            shift = self.constant(shifted[1]).reshape(()) if shifted else np.float32(0)
            for conv in convs:
                weights = self.constant(conv.input[1])
                conv.input[1] = self.add_constant(f"{conv.name}_weights_scaled", weights * scale)
                self._set_bias(conv, self._bias(conv) + shift * weights.sum(axis=tuple(range(1, weights.ndim))),
                               f"{conv.name}_bias_shifted")
                conv.input[0] = scaled[0]
            self.graph.node.remove(mul)
            if shifted:
                self.graph.node.remove(add)
            count += 1
        return count

    def _unpadded_reader(self, node, tensor: str) -> bool:
        attributes = {attribute.name: attribute for attribute in node.attribute}
        auto_pad = attributes["auto_pad"].s.decode() if "auto_pad" in attributes else "NOTSET"
        return (self._constant_conv(node) and node.input[0] == tensor and tensor not in node.input[1:]
                and auto_pad in ("NOTSET", "VALID") and not any(attributes["pads"].ints if "pads" in attributes
                                                                  else []))

    def _constant_conv(self, node) -> bool:
        """A Conv whose weights (and bias, if any) are constants: what a fold can rewrite."""
        return (node is not None and node.op_type == "Conv" and self.constant(node.input[1]) is not None
                and (len(node.input) < 3 or not node.input[2] or self.constant(node.input[2]) is not None))

    def _bias(self, conv) -> np.ndarray:
        if len(conv.input) > 2 and conv.input[2]:
            return self.constant(conv.input[2])
        return np.zeros(self.constant(conv.input[1]).shape[0], np.float32)

    def _set_bias(self, conv, value: np.ndarray, name: str) -> None:
        name = self.add_constant(name, value)
        if len(conv.input) > 2:
            conv.input[2] = name
        else:
            conv.input.append(name)


def _per_channel(value: np.ndarray, weights_shape: tuple[int, ...]) -> bool:
    """A float constant that adds one value per output channel of a Conv with these weights (its output has their
    rank: N, C, spatial...): a scalar, or [C, 1...] or [1, C, 1...] (broadcast along the spatial axes only)."""
    rank, channels = len(weights_shape), weights_shape[0]
    if value.dtype != np.float32 or value.ndim > rank:
        return False
    if value.size == 1:
        return True
    shape = value.shape[1:] if value.ndim == rank and value.shape[0] == 1 else value.shape
    return len(shape) == rank - 1 and shape[0] == channels and all(size == 1 for size in shape[1:])
