"""Known graph-level remedies for converter bugs, applied by name to a step's private ONNX copy.

Each repair changes the graph only where it finds what it repairs, without changing what the graph computes, and
returns what it changed: the step records that in its artifact's meta and log, never silently.

- `lstm_initial_state`: an LSTM, GRU or RNN without initial_h (and an LSTM without initial_c) gets explicit
  zeros, which is what ONNX defines for a missing initial state; onnx2tf 1.28.8 dies on a bidirectional LSTM
  without them (`TypeError: 'NoneType' object is not subscriptable` in its LSTM converter).
- `maxpool_zero_pad`: a MaxPool with pads whose input is a Relu's output gets those pads as an explicit zero Pad
  before it (the same maximum: every window holds a value >= 0). onnx2tf pads a MaxPool's borders with float32's
  lowest value, and TFLite's int8 quantizer then gives that tensor and the Relu before it a scale of ~1e36: the
  file does not load (XNNPACK "failed to prepare"; the builtin kernels abort). onnx_to_tf applies it by itself.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

# op type -> the positions of its initial-state inputs (ONNX: initial_h, and initial_c for an LSTM)
STATE_INPUTS = {"LSTM": (5, 6), "GRU": (5,), "RNN": (5,)}


def lstm_initial_state(model, bound: dict[str, list[int]] | None = None) -> list[dict]:
    """Zeros of [num_directions, batch, hidden] ([batch, num_directions, hidden] with layout=1) for every missing
    initial state: a constant when the batch is known (from the bound input shapes), else computed from the
    sequence's shape."""
    from onnx import helper, numpy_helper

    graph = model.graph
    shapes = _static_shapes(model, bound or {})
    taken = {name for node in graph.node for name in [*node.input, *node.output]} | {i.name for i in graph.initializer}
    changes, placed = [], []
    for node in graph.node:
        if node.op_type not in STATE_INPUTS or node.domain not in ("", "ai.onnx"):
            continue
        missing = [i for i in STATE_INPUTS[node.op_type] if len(node.input) <= i or not node.input[i]]
        if not missing:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        directions = 2 if attrs.get("direction", b"forward") == b"bidirectional" else 1
        layout = int(attrs.get("layout", 0))
        batch_axis = 1 - layout  # X is [seq, batch, input], or [batch, seq, input] with layout=1
        batch = (shapes.get(node.input[0]) or [None, None])[batch_axis]
        shape = [batch, directions, int(attrs["hidden_size"])] if layout else [directions, batch,
                                                                               int(attrs["hidden_size"])]
        zeros = _fresh(f"{node.name or node.op_type}_zero_state", taken)
        dtype = next((numpy_helper.to_array(i).dtype for i in graph.initializer if i.name == node.input[1]),
                     np.dtype(np.float32))  # the weights' (W) type is the sequence's
        if batch:
            graph.initializer.append(numpy_helper.from_array(np.zeros(shape, dtype), zeros))
        else:
            placed.append((node, _zeros_of_batch(graph, node.input[0], batch_axis, shape, zeros, dtype, taken)))
        while len(node.input) <= max(missing):
            node.input.append("")
        for position in missing:
            node.input[position] = zeros
        names = ("initial_h", "initial_c")
        changes.append({"repair": "lstm_initial_state", "node": node.name, "op_type": node.op_type,
                        "added": [names[STATE_INPUTS[node.op_type].index(i)] for i in missing],
                        "zeros": [d or "batch" for d in shape]})
    for node, nodes in placed:  # right before the node that reads them: the graph stays in topological order
        at = list(graph.node).index(node)
        for offset, new in enumerate(nodes):
            graph.node.insert(at + offset, new)
    return changes


def maxpool_zero_pad(model, bound: dict[str, list[int]] | None = None) -> list[dict]:
    """Pad(0) + MaxPool without pads for every MaxPool with pads (explicit, not ceil_mode, no indices output) that
    reads a Relu's output."""
    from onnx import helper, numpy_helper

    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    producers = {output: node for node in graph.node for output in node.output}
    taken = {name for node in graph.node for name in [*node.input, *node.output]} | {i.name for i in graph.initializer}
    changes = []
    for node in list(graph.node):
        if node.op_type != "MaxPool" or node.domain not in ("", "ai.onnx") or len(node.output) > 1:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        pads = list(attrs.get("pads", []))
        if not any(pads) or attrs.get("auto_pad", b"NOTSET") != b"NOTSET" or attrs.get("ceil_mode", 0):
            continue
        producer = producers.get(node.input[0])
        if producer is None or producer.op_type != "Relu":
            continue
        half = len(pads) // 2  # ONNX Pad: every axis's begin, then every axis's end (N and C not padded)
        amounts = [0, 0, *pads[:half], 0, 0, *pads[half:]]
        padded = _fresh(f"{node.name or 'MaxPool'}_padded", taken)
        if opset < 11:  # Pad-2: the amounts are an attribute
            pad = helper.make_node("Pad", [node.input[0]], [padded], name=padded, mode="constant", pads=amounts)
        else:
            constant = _fresh(f"{node.name or 'MaxPool'}_pads", taken)
            graph.initializer.append(numpy_helper.from_array(np.array(amounts, np.int64), constant))
            pad = helper.make_node("Pad", [node.input[0], constant], [padded], name=padded, mode="constant")
        graph.node.insert(list(graph.node).index(node), pad)
        node.input[0] = padded
        for attribute in node.attribute:
            if attribute.name == "pads":
                attribute.ints[:] = [0] * len(pads)
        changes.append({"repair": "maxpool_zero_pad", "node": node.name, "op_type": node.op_type, "added": ["Pad"],
                        "zeros": pads})
    return changes


REPAIRS: dict[str, Callable] = {"lstm_initial_state": lstm_initial_state, "maxpool_zero_pad": maxpool_zero_pad}
# applied by onnx_to_tf whenever it simplifies for onnx2tf (nothing after it undoes them), listed or not
AUTOMATIC = ("maxpool_zero_pad",)


def check_names(names: list) -> None:
    """For the step's Options: every name a known repair, else one line listing them."""
    unknown = [n for n in names if n not in REPAIRS]
    if unknown:
        raise ValueError(f"repairs={list(names)!r} is not allowed: {', '.join(map(repr, unknown))} is no known "
                         f"repair; known: {', '.join(REPAIRS)}")


def apply(path: Path, names: list[str], bound: dict[str, list[int]] | None = None) -> list[dict]:
    """Apply the named repairs to the ONNX file in place (`bound`: shapes the converter is told for inputs with
    dynamic dimensions); what each changed (nothing: the file is untouched)."""
    import onnx

    if not names:
        return []
    model = onnx.load(str(path))
    changes = [change for name in names for change in REPAIRS[name](model, bound)]
    if changes:
        onnx.save(model, str(path))
    return changes


def _static_shapes(model, bound: dict[str, list[int]]) -> dict[str, list[int | None]]:
    """Every tensor's dimensions by shape inference (None where unknown), the inputs at their bound shapes."""
    import onnx

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for value in probe.graph.input:
        if value.name in bound:
            for dim, size in zip(value.type.tensor_type.shape.dim, bound[value.name], strict=False):
                dim.Clear()
                dim.dim_value = size
    inferred = onnx.shape_inference.infer_shapes(probe)
    shapes = {}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]
    return shapes


def _fresh(base: str, taken: set[str]) -> str:
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}_{number}"
    taken.add(name)
    return name


def _zeros_of_batch(graph, source: str, axis: int, shape: list, name: str, dtype, taken: set[str]) -> list:
    """Nodes computing zeros of `shape`, its None being `source`'s dimension `axis` (constants: initializers)."""
    from onnx import helper, numpy_helper

    def constant(values: list[int]) -> str:
        const = _fresh(f"{name}_const", taken)
        graph.initializer.append(numpy_helper.from_array(np.array(values, np.int64), const))
        return const

    full, batch, dims = (_fresh(f"{name}_{part}", taken) for part in ("shape", "batch", "dims"))
    parts = [batch if d is None else constant([d]) for d in shape]
    return [helper.make_node("Shape", [source], [full], name=full),
            helper.make_node("Gather", [full, constant([axis])], [batch], name=batch, axis=0),
            helper.make_node("Concat", parts, [dims], name=dims, axis=0),
            helper.make_node("ConstantOfShape", [dims], [name], name=name,
                             value=numpy_helper.from_array(np.zeros([1], dtype), "zero"))]
