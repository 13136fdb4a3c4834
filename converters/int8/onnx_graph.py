"""An ONNX graph being edited in place: its constants readable by name, each tensor's producer and readers. Shared
by the rewrites made before onnxruntime quantizes a model (onnx_rewrites.py) and after (qdq_scalars.py)."""
from __future__ import annotations

import numpy as np


class OnnxGraph:
    def __init__(self, graph):
        self.graph = graph
        self.initializers = {tensor.name: tensor for tensor in graph.initializer}
        self.outputs = {output.name for output in graph.output}

    def constant(self, name: str) -> np.ndarray | None:
        from onnx import numpy_helper

        tensor = self.initializers.get(name)
        return None if tensor is None else numpy_helper.to_array(tensor)

    def add_constant(self, name: str, value, dtype=np.float32) -> str:
        from onnx import numpy_helper

        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        self.initializers[name] = self.graph.initializer[-1]
        return name

    def readers(self, tensor: str) -> list:
        return [node for node in self.graph.node if tensor in node.input]

    def producer(self, tensor: str):
        return next((node for node in self.graph.node if tensor in node.output), None)

    def only_use(self, tensor: str, node) -> bool:
        """`node` is the one reader of `tensor`, and the tensor is not a graph output."""
        return tensor not in self.outputs and self.readers(tensor) == [node]

    def drop_unread(self, op_types: tuple[str, ...] = ()) -> None:
        """Nodes of `op_types` whose outputs nothing reads (until none is left), then the constants nothing reads."""
        while True:
            read = {name for node in self.graph.node for name in node.input} | self.outputs
            unread = [node for node in self.graph.node
                      if node.op_type in op_types and not any(out in read for out in node.output)]
            if not unread:
                break
            for node in unread:
                self.graph.node.remove(node)
        kept = [tensor for tensor in self.graph.initializer if tensor.name in read]
        del self.graph.initializer[:]
        self.graph.initializer.extend(kept)
