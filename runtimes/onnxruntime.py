"""ONNX Runtime, CPU execution provider, on .onnx files."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from core.artifact import Artifact
from runtimes.base import Runner, Runtime, Settings, positive
from runtimes.profiling import WARMUP, NodeTime, OnnxNames, executed_precision, profile_data

EXECUTION_MODES = {"sequential": "ORT_SEQUENTIAL", "parallel": "ORT_PARALLEL"}  # ort.ExecutionMode
OPTIMIZATION_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",  # ort.GraphOptimizationLevel
                       "extended": "ORT_ENABLE_EXTENDED", "layout": "ORT_ENABLE_LAYOUT", "all": "ORT_ENABLE_ALL"}
FUSED_CONV = {"Conv", "FusedConv", "QLinearConv", "NhwcFusedConv"}  # kernels that may have absorbed an activation


@dataclass(frozen=True)
class Options:
    """bench.runtime.onnxruntime"""

    graph_optimization_level: Literal["disable", "basic", "extended", "layout", "all"] = "all"
    execution_mode: Literal["sequential", "parallel"] = "sequential"
    inter_op_threads: int = 1  # threads of the parallel execution mode
    session_config: dict = field(default_factory=dict)  # session config entries, verbatim

    def __post_init__(self):
        positive("inter_op_threads", self.inter_op_threads)


def session_options(settings: Settings):
    """ort.SessionOptions from the settings and the bench.runtime.onnxruntime block, and what was applied."""
    import onnxruntime as ort

    options = settings.of(RUNTIME)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = settings.n_threads
    opts.inter_op_num_threads = options.inter_op_threads
    opts.execution_mode = getattr(ort.ExecutionMode, EXECUTION_MODES[options.execution_mode])
    opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel,
                                            OPTIMIZATION_LEVELS[options.graph_optimization_level])
    for key, value in options.session_config.items():  # e.g. session.intra_op.allow_spinning
        opts.add_session_config_entry(str(key), str(value))
    opts.log_severity_level = 3
    applied = {"intra_op_threads": opts.intra_op_num_threads, "inter_op_threads": opts.inter_op_num_threads,
               "execution_mode": options.execution_mode, "graph_optimization_level": options.graph_optimization_level,
               "session_config": dict(options.session_config)}
    return opts, applied


class OnnxRuntimeRunner(Runner):
    runtime = "onnxruntime"

    def __init__(self, artifact: Artifact, settings: Settings):
        import onnxruntime as ort

        opts, self.applied = session_options(settings)
        self.session = ort.InferenceSession(artifact.path, opts, providers=["CPUExecutionProvider"])
        self.version = ort.__version__
        self.executed_precision = artifact.precision

    def __call__(self, inputs):
        return self.session.run(None, inputs)


def bare_loop(artifact: Artifact, inputs: dict, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(artifact.path, options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, inputs)


def exposed_onnx(path: str):
    """The model with every node output added as a graph output (types from shape inference)."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(path))
    typed = {v.name: v for v in [*model.graph.value_info, *model.graph.output]}
    present = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for name in node.output:
            if name and name not in present and name in typed:
                model.graph.output.append(typed[name])
                present.add(name)
    return model


def intermediate_tensors(artifact: Artifact, wanted: list[str] | None, inputs: dict[str, np.ndarray],
                         precision: str = "fp32") -> dict[str, np.ndarray]:
    """Every node output of an ONNX file (graph optimisation off: each tensor kept), for localisation."""
    import onnxruntime as ort

    model = exposed_onnx(artifact.path)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs() if wanted is None or o.name in wanted]
    values = session.run(names, inputs)
    return dict(zip(names, values, strict=True))


def profile(artifact: Artifact, settings: Settings, inputs: dict, runs: int, onnx: str | None = None) -> dict:
    """ORT's own profiler (SessionOptions.enable_profiling) on a session of its own with the same settings: the
    JSON trace's kernel times per node of the optimised graph, over `runs` inferences after WARMUP."""
    import json
    import tempfile
    from pathlib import Path

    import onnxruntime as ort

    opts, _ = session_options(settings)
    with tempfile.TemporaryDirectory(prefix="ort-profile-") as folder:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(folder) / "ort")
        session = ort.InferenceSession(artifact.path, opts, providers=["CPUExecutionProvider"])
        for _ in range(WARMUP + runs):
            session.run(None, inputs)
        events = json.loads(Path(session.end_profiling()).read_text())
    done = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    start = done[WARMUP]["ts"]  # the warm-up runs' events come before
    names, nodes = OnnxNames(onnx or artifact.path), {}
    for event in events:
        if event.get("cat") != "Node" or event["ts"] < start or not event["name"].endswith("_kernel_time"):
            continue
        name, args = event["name"][: -len("_kernel_time")], event.get("args", {})
        node = nodes.get(name)
        if node is None:
            types = [[next(iter(t)) for t in args.get(key, [])] for key in ("input_type_shape", "output_type_shape")]
            node = nodes[name] = NodeTime(name, args.get("op_name", "?"), precision=executed_precision(*types),
                                          kernel=args.get("provider", "").replace("ExecutionProvider", ""),
                                          onnx_nodes=names.nodes([name]))
            fused = node.op_type in FUSED_CONV and node.onnx_nodes and names.op.get(node.onnx_nodes[0]) != "Conv"
            conv = names.upstream(node.onnx_nodes[0], {"Conv"}) if fused else None
            if conv:  # named after the activation's output it absorbed: the Conv is the node that computes
                node.onnx_nodes.insert(0, conv)
        node.ms += event["dur"] / 1e3
    run_ms = sum(e["dur"] for e in done[WARMUP:]) / 1e3 / runs
    return profile_data(list(nodes.values()), runs, run_ms, "onnxruntime profiler (enable_profiling)")


RUNTIME = Runtime(name="onnxruntime", label="ONNX Runtime", format="onnx", packages=("onnxruntime",),
                  runner=OnnxRuntimeRunner, options=Options, bare_loop=bare_loop, tensors=intermediate_tensors,
                  profile=profile,
                  # its worker threads sleep between calls instead of spinning; no NCHWc layout rewrite
                  tunables=({"session_config": {"session.intra_op.allow_spinning": "0"}},
                            {"graph_optimization_level": "extended"}))
