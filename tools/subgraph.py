"""Cut an ONNX graph down to a set of its nodes, the tensors flowing into the cut frozen to recorded values.

A candidate is a set of the graph's nodes (Constant nodes excepted: they follow the nodes that read them). Its
inputs are the tensors its nodes read that none of them makes (the graph's own inputs, or values ONNX Runtime
computed for the whole graph: "frozen"); its outputs are the tensors its nodes make that none of them reads but
something outside did (another node or the graph's output). Integer tensors cut this way (shapes, indices) are
frozen as constants, as a converter would see them once folded; float ones become the candidate's inputs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

CONSTANT = "Constant"


@dataclass(frozen=True)
class Cut:
    nodes: tuple[int, ...]  # positions in the graph's node list, constants included, in graph order
    inputs: tuple[str, ...]  # tensors fed from outside (graph inputs or frozen values)
    outputs: tuple[str, ...]


class Graph:
    def __init__(self, path: str):
        import onnx

        self.model = onnx.load(path)
        graph = self.model.graph
        self.nodes = list(graph.node)
        self.initializers = {i.name for i in graph.initializer}
        self.graph_outputs = {o.name for o in graph.output}
        self.producer = {t: i for i, n in enumerate(self.nodes) for t in n.output if t}
        self.reads = [[t for t in _inputs(n) if t and t not in self.initializers] for n in self.nodes]
        self.readers: dict[str, set[int]] = {}
        for i, names in enumerate(self.reads):
            for t in names:
                self.readers.setdefault(t, set()).add(i)
        # the candidates are made of these: every node but Constant
        self.real = [i for i, n in enumerate(self.nodes) if n.op_type != CONSTANT]

    def name(self, i: int) -> str:
        node = self.nodes[i]
        return node.name or f"{node.op_type}#{i}"

    def describe(self, kept) -> list[str]:
        return [f"{self.name(i)} ({self.nodes[i].op_type})" for i in sorted(kept)]

    def cut(self, kept) -> Cut:
        kept = set(kept)
        made = {t for i in kept for t in self.nodes[i].output if t}
        read = {t for i in kept for t in self.reads[i]}
        constants = {i for t in read - made for i in [self.producer.get(t)]
                     if i is not None and self.nodes[i].op_type == CONSTANT}
        outside = read - made - {t for i in constants for t in self.nodes[i].output}
        outputs = [t for i in sorted(kept) for t in self.nodes[i].output
                   if t and t not in read and (t in self.graph_outputs or self.readers.get(t, set()) - kept)]
        return Cut(tuple(sorted(kept | constants)), tuple(sorted(outside)), tuple(outputs))

    def ancestors(self, i: int) -> set[int]:
        """Node i and every node it depends on (Constant nodes aside)."""
        seen, stack = set(), [i]
        while stack:
            j = stack.pop()
            if j in seen:
                continue
            seen.add(j)
            stack.extend(p for t in self.reads[j] for p in [self.producer.get(t)] if p is not None)
        return {j for j in seen if self.nodes[j].op_type != CONSTANT}

    def ends(self, kept) -> tuple[list[int], list[int]]:
        """(the nodes at its input end: none of their inputs made inside; at its output end: none of their outputs
        read inside) of a candidate."""
        kept = set(kept)
        made = {t: i for i in kept for t in self.nodes[i].output if t}
        read = {t for i in kept for t in self.reads[i]}
        first = [i for i in sorted(kept) if not any(t in made for t in self.reads[i])]
        last = [i for i in sorted(kept) if not any(t in read for t in self.nodes[i].output if t)]
        return first, last

    def fed(self, cut: Cut, values: dict[str, np.ndarray]) -> list[str]:
        """The tensors a candidate is fed: the graph's own inputs and cut float tensors (cut integer tensors are
        frozen as constants)."""
        graph_inputs = {i.name for i in self.model.graph.input}
        return [t for t in cut.inputs if t in graph_inputs or _is_float(values[t])]

    def build(self, cut: Cut, values: dict[str, np.ndarray]):
        """(the candidate as an ONNX model, {tensor: its name there} of the inputs it is fed): inputs and outputs are
        renamed where a converter could not take the name."""
        import onnx
        from onnx import helper, numpy_helper

        fed = self.fed(cut, values)
        frozen = [t for t in cut.inputs if t not in fed]
        rename = _safe_names([*fed, *cut.outputs], self.initializers | set(self.producer))
        nodes = []
        for i in cut.nodes:
            node = onnx.NodeProto()
            node.CopyFrom(self.nodes[i])
            for k, t in enumerate(node.input):
                node.input[k] = rename.get(t, t)
            for k, t in enumerate(node.output):
                node.output[k] = rename.get(t, t)
            nodes.append(node)
        read = {t for n in nodes for t in _inputs(n)}
        initializers = [i for i in self.model.graph.initializer if i.name in read]
        initializers += [numpy_helper.from_array(values[t], t) for t in frozen]
        graph = helper.make_graph(nodes, f"{self.model.graph.name or 'graph'}_reduced",
                                  [_value_info(rename.get(t, t), values[t]) for t in fed],
                                  [_value_info(rename.get(t, t), values[t]) for t in cut.outputs], initializers)
        model = helper.make_model(graph, opset_imports=list(self.model.opset_import),
                                  ir_version=self.model.ir_version, producer_name="convgraph tools.reduce")
        model.functions.extend(self.model.functions)
        return model, {t: rename.get(t, t) for t in fed}


def tensor_values(path: str, feed: dict[str, np.ndarray], wanted: set[str] | None = None) -> dict[str, np.ndarray]:
    """Every tensor of the graph ONNX Runtime computes on `feed` (graph optimisation off, so that each is kept),
    the inputs included: the values a cut freezes."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(path)
    present = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for name in node.output:
            if name and name not in present and (wanted is None or name in wanted):
                model.graph.output.append(onnx.ValueInfoProto(name=name))  # its type: ONNX Runtime infers it
                present.add(name)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs() if wanted is None or o.name in wanted]
    return {**feed, **dict(zip(names, session.run(names, feed), strict=True))}


def _inputs(node) -> list[str]:
    """A node's inputs, and the outer tensors its subgraphs (If, Loop, Scan) read."""
    names = list(node.input)
    for attribute in node.attribute:
        for graph in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
            inner = {t for n in graph.node for t in n.output} | {i.name for i in graph.input} | {
                i.name for i in graph.initializer}
            names += [t for n in graph.node for t in _inputs(n) if t not in inner]
    return names


def _is_float(value: np.ndarray) -> bool:
    return np.issubdtype(value.dtype, np.floating)


def _safe_names(names: list[str], taken: set[str]) -> dict[str, str]:
    """Inputs and outputs of a candidate named so that every converter takes them (TensorFlow's signatures
    refuse `/` and `:`, which exporters put in tensor names)."""
    rename, used = {}, set(taken)
    for name in names:
        safe = re.sub(r"\W+", "_", name).strip("_") or "tensor"
        if safe[0].isdigit():
            safe = f"t_{safe}"
        if safe == name:
            continue
        candidate, number = safe, 1
        while candidate in used:
            number += 1
            candidate = f"{safe}_{number}"
        used.add(candidate)
        rename[name] = candidate
    return rename


def _value_info(name: str, value: np.ndarray):
    from onnx import helper
    from onnx.helper import np_dtype_to_tensor_dtype

    return helper.make_tensor_value_info(name, np_dtype_to_tensor_dtype(value.dtype), list(value.shape))
