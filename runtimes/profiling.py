"""Per-node profiles (`bench.profile=true`): what a runtime's profile hook returns, and the join onto the node
names of the ONNX file the artifact came from.

A hook (`Runtime.profile`: artifact, settings, inputs, runs, onnx path -> dict) loads its own, profiling instance
of the artifact after the timed loop (the timed numbers never run with a profiler on), runs it a few times and
returns `profile_data(...)`: per executed node its name as the runtime calls it, op type, mean ms per inference,
share of the nodes' total, the precision its kernel executed in, the kernel, and the ONNX nodes it implements
(the key that joins one runtime's profile onto another's). A runtime that cannot profile returns `unavailable`.

Like the rest of runtimes/, only the standard library at module level; onnx is read inside OnnxNames.
"""
from __future__ import annotations

from dataclasses import dataclass, field

WARMUP = 2  # profiled inferences discarded before the `runs` that count
TYPES = {"float": "fp32", "float32": "fp32", "f32": "fp32", "fp32": "fp32", "float16": "fp16", "f16": "fp16",
         "fp16": "fp16", "bfloat16": "bf16", "bf16": "bf16", "uint8": "int8", "int8": "int8", "u8": "int8",
         "i8": "int8", "int32": "int32", "i32": "int32", "int64": "int64", "i64": "int64", "bool": "bool",
         "boolean": "bool", "double": "fp64", "f64": "fp64"}


def type_name(name: str) -> str:
    """A runtime's element type ('uint8', 'float', 'I8', 'f32') as convgraph names precisions ('int8', 'fp32')."""
    return TYPES.get(name.lower(), name.lower())


def executed_precision(inputs: list[str], outputs: list[str]) -> str:
    """What a kernel computed in, from its data input's and first output's element types: 'int8' for 8-bit in
    and out (a quantized kernel), 'fp32' for float in and out, 'fp32->int8' for a conversion (QuantizeLinear),
    'int8->fp32' for DequantizeLinear or an integer kernel that writes floats."""
    first_in = type_name(inputs[0]) if inputs else ""
    first_out = type_name(outputs[0]) if outputs else ""
    if not first_in or not first_out or first_in == first_out:
        return first_out or first_in or "?"
    return f"{first_in}->{first_out}"


@dataclass
class NodeTime:
    name: str  # as the runtime calls the node it executed
    op_type: str  # the op it executed (ORT: after fusion, e.g. QLinearConv; OpenVINO: its layer type)
    ms: float = 0.0  # summed over the profiled runs until profile_data() divides
    precision: str = "?"
    kernel: str = ""  # OpenVINO's exec_type (e.g. brgconv_avx512_I8); ORT: the execution provider
    onnx_nodes: list[str] = field(default_factory=list)  # the ONNX nodes it implements, where the names tell


def profile_data(nodes: list[NodeTime], runs: int, run_ms: float | None, how: str, note: str | None = None,
                 statistic: str | None = None) -> dict:
    """The profile as results.json records it (pipeline.results.Profile): nodes by time, slowest first; `note`
    says what a reader must know to trust the times (how they were made when no profiler made them); `statistic`,
    what a node's ms is of its `runs` times when not their mean (NodeTime.ms is then that statistic times `runs`)."""
    total = sum(n.ms for n in nodes) / runs
    rows = [{"name": n.name, "op_type": n.op_type, "ms": n.ms / runs, "share": n.ms / runs / total if total else 0.0,
             "precision": n.precision, "kernel": n.kernel or None, "onnx_nodes": n.onnx_nodes}
            for n in sorted(nodes, key=lambda n: -n.ms)]
    return {"available": True, "how": how, "runs": runs, "nodes_ms": total, "run_ms": run_ms, "nodes": rows,
            "note": note, "statistic": statistic}


def unavailable(reason: str) -> dict:
    return {"available": False, "reason": reason}


class OnnxNames:
    """The node and tensor names of an ONNX file, to find the ONNX node behind a name a runtime made from it:
    ORT keeps node names but suffixes the nodes its optimizer rewrites (`_token_3`) and names NCHWc convolutions
    after their output tensor (`.../Relu_output_0_nchwc`); OpenVINO keeps ONNX node names as friendly names and
    appends what its transformations made (`.../Conv/WithoutBiases`, `.../Relu/fq_output_0`), or names a layer
    after its output tensor."""

    def __init__(self, path: str | None):
        self.op, self.producer, self.inputs = {}, {}, {}
        if not path:
            return
        import onnx

        graph = onnx.load(path, load_external_data=False).graph
        for node in graph.node:
            self.op[node.name] = node.op_type
            self.inputs[node.name] = list(node.input)
            self.producer.update({out: node.name for out in node.output if out})

    def resolve(self, name: str, cuts: int = 8) -> str | None:
        """The ONNX node `name` is, or is the output of, or is made from (suffixes cut at '/' or '_')."""
        for _ in range(cuts + 1):
            if name in self.op:
                return name
            if name in self.producer:
                return self.producer[name]
            cut = max(name.rfind("/"), name.rfind("_"))
            if cut <= 0:
                return None
            name = name[:cut]
        return None

    def nodes(self, names: list[str]) -> list[str]:
        found = (self.resolve(n) for n in names if n)
        return list(dict.fromkeys(n for n in found if n))

    def upstream(self, node: str, op_types: set[str], hops: int = 3) -> str | None:
        """The nearest node of one of `op_types` feeding `node` (a Conv that ORT fused its activation into)."""
        frontier = [node]
        for _ in range(hops):
            frontier = [self.producer[t] for n in frontier for t in self.inputs.get(n, []) if t in self.producer]
            hit = next((n for n in frontier if self.op.get(n) in op_types), None)
            if hit:
                return hit
        return None
