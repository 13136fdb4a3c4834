"""A per-op profile of a .tflite file (bench.profile), timed op by op in one-op models.

ai-edge-litert's Python Interpreter exposes no op-level timing (its profiler and benchmark_model stay in C++;
`experimental_force_delegate_node_profiling` only matters to a profiler attached in C++), so each op is timed
alone. One full run records every tensor (`experimental_preserve_all_tensors`, with delegate node fusion off so
the delegate takes each op as a partition of its own and every tensor passes between kernels). Then, per op of the
main subgraph in execution order, a one-op model is cut from the file with the schema's object API (the op, its
tensors with their quantization parameters, its constant buffers; subgraph inputs = its non-constant inputs,
outputs = its outputs), loaded with the runner's threads and op resolver (XNNPACK takes the op where it supports
it), fed the recorded intermediates and invoked WARMUP + `runs` times; its time is the median, and so is the whole
model's. An op that computes from constants only (an fp16 file's weight DEQUANTIZE, which XNNPACK folds into its
consumer at load) is not timed alone: it goes into each consumer's one-op model, as it runs in the whole model.

Limits: an isolated op loses what happens across ops in the whole model (XNNPACK runs its delegated ops as one
graph, keeping layouts and caches between them), and each time includes Python's invoke call (microseconds); so
the ops' sum is recorded beside the whole-model time of the same interpreter settings.
"""
from __future__ import annotations

import copy
import time
from collections import Counter

import numpy as np

from runtimes.profiling import WARMUP, NodeTime, OnnxNames, executed_precision, profile_data, unavailable

INDEX_TYPES = ("INT32", "INT64")  # shapes, axes, indices: not what an op computes in
HOW = "one-op models cut from the file, each timed alone with the runner's threads and op resolver"


def op_profile(runner, path: str, settings, inputs: dict, runs: int, onnx: str | None, xnnpack: bool) -> dict:
    """The profile of the file at `path`, loaded in `runner` (runtimes.tflite.TFLiteRunner: it maps `inputs`
    onto the file's input tensors; its interpreter gives the whole-model time)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(path)
    main = model.signatureDefs[0].subgraphIndex if model.signatureDefs else 0
    if main != 0:  # the Interpreter's tensor indices (set_tensor, get_tensor by default) are subgraph 0's
        return unavailable(f"{path}: its signature runs subgraph {main}; the TFLite profile covers subgraph 0 only")
    subgraph = model.subgraphs[0]
    runner(inputs)  # sets the file's input tensors from `inputs` (layouts, int8 edges) and runs once
    whole = runner.interpreter
    feed = {i: whole.get_tensor(i) for i in subgraph.inputs}
    run_ms = _median_ms(whole.invoke, runs)

    # every intermediate, from the kernels the ops are timed with: with delegate node fusion off, a delegate
    # takes each op as a partition of its own, so each tensor passes between kernels, where it can be read
    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    recorder = Interpreter(model_path=path, num_threads=settings.n_threads, experimental_op_resolver_type=resolver,
                           experimental_preserve_all_tensors=True, experimental_disable_delegate_node_fusion=True)
    for index, value in feed.items():
        recorder.resize_tensor_input(index, list(value.shape))
    recorder.allocate_tensors()
    for index, value in feed.items():
        recorder.set_tensor(index, value)
    recorder.invoke()

    op_names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    type_names = {code: name for name, code in vars(schema.TensorType).items() if not name.startswith("_")}
    names, nodes, folded, failed = OnnxNames(onnx), [], Counter(), {}
    for op, ops in cuts(model, subgraph):
        op_type = op_names.get(flatbuffer_utils.get_builtin_code_from_operator_code(
            model.operatorCodes[op.opcodeIndex]), "CUSTOM")
        if ops is None:
            folded[op_type] += 1
            continue
        try:
            output = subgraph.tensors[op.outputs[0]]
            blob, order = one_op_model(model, subgraph, ops)
            ms, kernel = _time_one(blob, [recorder.get_tensor(i) for i in order], settings.n_threads, resolver, runs)
        except Exception as error:  # e.g. a stateful op that reads a resource another op wrote
            failed.setdefault(op_type, f"{type(error).__name__}: {error}".splitlines()[0][:160])
            continue
        used = [type_names[subgraph.tensors[i].type] for i in op.inputs if i >= 0]
        data = [t for t in used if t not in INDEX_TYPES] or used  # TRANSPOSE_CONV's first input is a shape
        precision = executed_precision(data[:1], [type_names[output.type]])
        tensor_names = [p for o in op.outputs for p in subgraph.tensors[o].name.decode().split(";") if p]
        joined = list(dict.fromkeys(n for n in (names.resolve(p, cuts=0) for p in tensor_names) if n))
        nodes.append(NodeTime(output.name.decode(), op_type, ms=ms, precision=precision, kernel=kernel,
                              onnx_nodes=joined))
    if not nodes:
        return unavailable(f"no op of {path} could be timed alone: {'; '.join(failed.values()) or 'no ops'}")
    return profile_data(nodes, runs, run_ms, HOW, note=_note(nodes, runs, run_ms, folded, failed),
                        statistic="median")


def one_op_model(model, subgraph, ops: list) -> tuple[bytes, list[int]]:
    """The flatbuffer of a model holding `ops` alone (an op after the ops that compute its constant inputs), and
    the main subgraph's tensor indices its inputs take, in order: the tensors the ops read and none of them
    writes, that hold no constant. Other subgraphs (a WHILE's body) stay, with their buffers; every other buffer
    is emptied, so buffer indices stay valid."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    buffers = [schema.BufferT() for _ in model.buffers]
    for other in model.subgraphs[1:]:
        for tensor in other.tensors or []:
            buffers[tensor.buffer] = model.buffers[tensor.buffer]
    written = {i for op in ops for i in op.outputs}
    tensors, index, inputs = [], {}, []

    def add(i: int) -> int:
        if i < 0:  # an optional input left out
            return i
        if i not in index:
            tensor = subgraph.tensors[i]
            if _has_data(model, tensor):
                buffers[tensor.buffer] = model.buffers[tensor.buffer]
            elif i not in written and not tensor.isVariable:
                inputs.append(i)
            index[i] = len(tensors)
            tensors.append(tensor)
        return index[i]

    cut = schema.SubGraphT()
    cut.operators = []
    for op in ops:
        one = copy.copy(op)
        one.inputs = [add(i) for i in op.inputs]
        one.outputs = [add(i) for i in op.outputs]
        one.intermediates = [add(i) for i in op.intermediates or []] or None
        cut.operators.append(one)
    cut.tensors, cut.name = tensors, subgraph.name
    cut.inputs, cut.outputs = [index[i] for i in inputs], list(cut.operators[-1].outputs)
    small = copy.copy(model)
    small.subgraphs, small.buffers = [cut, *model.subgraphs[1:]], buffers
    small.signatureDefs = small.metadata = small.metadataBuffer = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(small)), inputs


def cuts(model, subgraph):
    """Per op of the subgraph, in execution order: (op, the ops its one-op model holds: the op after the ops that
    compute its inputs from constants only), or (op, None) for such an op itself: XNNPACK folds it into its
    consumer at load (an fp16 file's weight DEQUANTIZE), so it is timed inside each consumer, not alone."""
    constant = {i for i, t in enumerate(subgraph.tensors) if _has_data(model, t)}
    producer = {}  # tensor -> the op computing it from constants only

    def chain(op, ops):
        for i in op.inputs:
            if i in producer and producer[i] not in ops:
                chain(producer[i], ops)
        ops.append(op)
        return ops

    for op in subgraph.operators:
        used = [i for i in op.inputs if i >= 0]
        if used and all(i in constant for i in used) and not _calls_subgraphs(op):
            constant.update(op.outputs)
            producer.update({i: op for i in op.outputs})
            yield op, None
        else:
            yield op, chain(op, [])


def _time_one(blob: bytes, values: list[np.ndarray], threads: int, resolver, runs: int) -> tuple[float, str]:
    """The one-op model's median ms over `runs` invokes after WARMUP, times `runs`, and the kernel that ran it."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=blob, num_threads=threads, experimental_op_resolver_type=resolver)
    details = interpreter.get_input_details()
    for detail, value in zip(details, values, strict=True):
        if tuple(detail["shape"]) != value.shape:  # the recorded run's shapes (a resized or dynamic input)
            interpreter.resize_tensor_input(detail["index"], list(value.shape))
    interpreter.allocate_tensors()
    for detail, value in zip(details, values, strict=True):
        interpreter.set_tensor(detail["index"], value)
    # a delegate that took the op adds its own node to the execution plan (LiteRT names it DELEGATE)
    delegated = any(d["op_name"] == "DELEGATE" for d in interpreter._get_ops_details())
    # profile_data divides by runs: the median, as the sum it expects
    return _median_ms(interpreter.invoke, runs) * runs, "XNNPACK" if delegated else "builtin"


def _median_ms(invoke, runs: int) -> float:
    """The median, not the mean: each op is timed at its own moment, so one disturbed invoke (another process
    taking the core) would move that op alone, not all of them as in a profiler's single run."""
    for _ in range(WARMUP):
        invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        invoke()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def _has_data(model, tensor) -> bool:
    data = model.buffers[tensor.buffer].data if tensor.buffer else None
    return data is not None and len(data) > 0


def _calls_subgraphs(op) -> bool:
    """WHILE, IF, CALL_ONCE...: their options name other subgraphs; never folded as a constant computation."""
    options = op.builtinOptions
    return options is not None and any("subgraph" in name.lower() for name in vars(options))


def _note(nodes: list[NodeTime], runs: int, run_ms: float, folded: Counter, failed: dict) -> str:
    total = sum(n.ms for n in nodes) / runs
    parts = [f"each op timed alone (median) in a one-op model fed the intermediates of one full run; their sum "
             f"{total:.3f} ms is {total / run_ms:.2f}x the whole model's median {run_ms:.3f} ms (an isolated op loses "
             "what runs across ops: XNNPACK's one graph for its ops, layouts and caches kept between them; each "
             "time includes Python's invoke call)"]
    if folded:
        parts.append("not timed alone, computed from constants only, run inside their consumers' one-op models: "
                     + ", ".join(f"{n} {t}" for t, n in folded.items()))
    if failed:
        parts.append("not timed, could not run alone: " + "; ".join(f"{t} ({why})" for t, why in failed.items()))
    return "; ".join(parts)
