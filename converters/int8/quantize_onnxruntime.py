"""ONNX Runtime int8: static quantization on the run's calibration samples, with the step's format and types (the
defaults are the fastest variant measured on a VNNI CPU: u8 activations x s8 weights, QDQ) and the ops after the
last Conv/Gemm/MatMul left float (float_tail); accuracy-aware, when quantizing every node falls below the target
agreement, by keeping in float the nodes that add the most error (nodes_to_exclude), found by comparing every
node's output with the float model's on one sample."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from converters.int8.onnx_rewrites import prepared_for_quantization
from converters.int8.qdq_scalars import absorb_scalar_ops
from converters.int8.search import (
    Judge,
    Search,
    SideBySide,
    choose_recipe,
    keep_in_float,
    onnx_outputs,
    ort_session,
    relative_error,
    where_the_time_went,
    worth_it,
)
from converters.step_io.feed_arrays import calibration
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact

# calibration="auto" tries these in turn when an accuracy-aware search judges (the first wins a tie): min-max takes
# each activation's whole range, an outlier included; percentile clips the top 0.001%; entropy picks the range that
# keeps the histogram's information (KL divergence)
CALIBRATIONS = ("minmax", "percentile", "entropy")
HISTOGRAMS = ("percentile", "entropy")  # onnxruntime holds every sample's every tensor for these until the end
MEMORY_SHARE = 0.25  # of the memory available: what a histogram calibration may hold


def quantize_int8(source: Artifact, path: Path, options, run: StepInputs) -> dict:
    """Write the int8 model to `path`; the meta of how it was made. `options`: onnx_precision.Options."""
    import onnx

    samples = calibration(run.calibration)
    model_path, prepared = prepared_for_quantization(source.path, path.parent)
    given = replace(options, reduce_range=not has_vnni()) if options.reduce_range == "auto" else options
    tail = tail_nodes(onnx.load(model_path, load_external_data=False).graph) if given.float_tail else []

    aim = run.accuracy  # what the pipeline judges by; None: no search
    method = "minmax" if given.calibration == "auto" else given.calibration

    histograms = given.calibration in HISTOGRAMS or (given.calibration == "auto" and aim is not None)
    held = memory_fits(model_path, samples) if histograms else len(samples)  # what a histogram method takes

    absorbed = 0

    def make(kept: list[str]) -> Path:
        nonlocal absorbed
        used = samples[:held] if method in HISTOGRAMS else samples
        absorbed = _quantize(model_path, path, used, replace(given, calibration=method), [*tail, *kept])
        return path

    def meta() -> dict:
        return {"quantization": f"onnxruntime static {given.quant_format}", "calibration": method,
                "calibration_samples": held if method in HISTOGRAMS else len(samples),
                **{k: getattr(given, k) for k in ("per_channel", "reduce_range", "activation_type", "weight_type",
                                                   "float_tail")},
                "float_nodes": len(tail), **prepared,
                **({"scalar_ops_absorbed_into_dequantization": absorbed} if absorbed else {})}

    if aim is None:
        make([])
        return meta()
    judge = Judge(onnx_outputs(source.path, samples), aim.processing, aim.task, aim.target)
    search = Search(judge.target, judge.metric_name(), len(samples))

    def judged(recipe: str) -> float:
        nonlocal method
        method = recipe
        return judge.agreement(onnx_outputs(str(make([])), samples))

    started = time.perf_counter()
    recipes = list(CALIBRATIONS) if given.calibration == "auto" else [given.calibration]
    method = choose_recipe(recipes, judged, search, options.budget_s)
    if recipes[len(search.recipes) - 1] != method:
        make([])  # the chosen recipe's file: the last one made was the last tried
    search.agreement = search.plain_agreement
    timing = SideBySide(_call(source.path, samples[0]))  # the runtime's fp32 as the step was given it
    search.speedup = plain_speedup = timing.speedup(_call(str(path), samples[0]))
    if search.plain_agreement >= judge.target:
        search.stopped = "target met with everything quantized"
    else:
        ranked = [n for n in sensitivity(model_path, str(path), samples[0]) if n not in tail]
        ranked = ranked[: options.max_float_nodes]
        budget = options.budget_s - (time.perf_counter() - started)  # the recipes' time counts
        kept = keep_in_float(ranked, lambda kept: judge.agreement(onnx_outputs(str(make(kept)), samples)), search,
                             budget, lambda _: timing.speedup(_call(str(path), samples[0])), plain_speedup)
        search.agreement = judge.agreement(onnx_outputs(str(make(kept)), samples))
        search.kept_in_float = kept
    search.seconds = time.perf_counter() - started
    worth_it(search, options.min_speedup, "ONNX Runtime", lambda: _profiled(str(path), samples[0], source.path))
    return {**meta(), "accuracy_aware": search.as_meta()}


def memory_fits(model_path: str, samples: list[dict[str, np.ndarray]]) -> int:
    """How many samples a histogram calibration (percentile, entropy) can take: onnxruntime's HistogramCalibrater
    keeps every intermediate tensor of every sample, and copies them once more to histogram them, so twice one
    sample's tensors per sample must fit in MEMORY_SHARE of the memory available (PP-OCRv4's detector at 640x640:
    128 pages took 24 GB and the kernel killed the step). At least one sample."""
    import psutil

    from runtimes.onnxruntime import intermediate_tensors

    tensors = intermediate_tensors(Artifact(name="float", format="onnx", path=model_path), None, samples[0])
    per_sample = 2 * sum(value.nbytes for value in tensors.values())
    fits = int(psutil.virtual_memory().available * MEMORY_SHARE // max(per_sample, 1))
    return max(1, min(len(samples), fits))


def _profiled(path: str, sample: dict[str, np.ndarray], float_path: str | None = None) -> str:
    """Where the int8 file's time goes, beside the float file's node time, from ONNX Runtime's own profiler (the
    bench.profile hook)."""
    from runtimes.base import Settings
    from runtimes.onnxruntime import profile

    def of(file: str) -> dict:
        return profile(Artifact(name="profiled", format="onnx", path=file), Settings(), sample, runs=10)

    return where_the_time_went(of(path), of(float_path) if float_path else None)


def _call(path: str, sample: dict[str, np.ndarray]):
    """One inference of an ONNX file on ONNX Runtime's defaults (all cores), for SideBySide."""
    session = ort_session(path)
    return lambda: session.run(None, sample)


def _quantize(model_path: str, out: Path, samples: list[dict], given, excluded: list[str]) -> int:
    """Quantize to `out`; the number of scalar multiplies and adds then absorbed into a dequantization."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter(samples)

        def get_next(self):
            return next(self.samples, None)

    types = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    quantize_static(model_path, str(out), Reader(), quant_format=getattr(QuantFormat, given.quant_format),
                    per_channel=bool(given.per_channel), reduce_range=bool(given.reduce_range),
                    activation_type=types[given.activation_type], weight_type=types[given.weight_type],
                    nodes_to_exclude=list(excluded),
                    calibrate_method=getattr(CalibrationMethod, METHODS[given.calibration]))
    model = onnx.load(str(out))
    absorbed = absorb_scalar_ops(model)
    if absorbed:
        onnx.save(model, str(out))
    return absorbed


METHODS = {"minmax": "MinMax", "percentile": "Percentile", "entropy": "Entropy"}  # onnxruntime's names


COMPUTE = {"Conv", "ConvTranspose", "Gemm", "MatMul"}
VNNI = {"avx512_vnni", "avx_vnni", "amx_int8"}


def has_vnni() -> bool:
    """The CPU has u8 x s8 dot-product instructions (no int16 saturation): /proc/cpuinfo's flags (Linux);
    elsewhere assumed not, which only costs the 8th weight bit."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(line.startswith("flags") and VNNI & set(line.split()) for line in text.splitlines())


def tail_nodes(graph) -> list[str]:
    """The nodes on the paths from each graph output back to the nearest Conv/Gemm/MatMul: left in float, so that
    outputs of different ranges (a detector's boxes in pixels and its scores in 0..1, concatenated into one
    tensor) do not share one 8-bit scale."""
    producer = {out: node for node in graph.node for out in node.output}
    seen, stack = {}, [output.name for output in graph.output]
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in seen or node.op_type in COMPUTE:
            continue
        seen[node.name] = node
        stack.extend(node.input)
    return list(seen)


def sensitivity(float_path: str, int8_path: str, sample: dict[str, np.ndarray]) -> list[str]:
    """The float model's nodes, the ones whose int8 version adds the most error first: each node's output error
    (mean absolute difference over mean magnitude, per channel, so a small-valued part of a tensor counts as much as
    a large one) minus the largest error of its inputs. An input the int8 model has no tensor for (a Relu's input:
    the quantizer fuses the Relu into the Conv before it) is measured further up, and the nodes passed on the way
    are ranked with the node, before it: keeping the Relu alone in float would change nothing."""
    import onnx

    from runtimes.onnxruntime import intermediate_tensors

    float_tensors = intermediate_tensors(Artifact(name="f", format="onnx", path=float_path), None, sample)
    int8_tensors = intermediate_tensors(Artifact(name="q", format="onnx", path=int8_path), list(float_tensors),
                                        sample)
    error = {name: relative_error(value, int8_tensors[name]) for name, value in float_tensors.items()
             if name in int8_tensors and value.shape == int8_tensors[name].shape}
    graph = onnx.load(float_path, load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}

    def measured_above(tensor: str, passed: list[str]) -> float:
        """The error of `tensor`, or of the nearest tensors above it the int8 model has (the nodes between join
        `passed`); 0 for a graph input or weight."""
        if tensor in error or tensor not in producer:
            return error.get(tensor, 0.0)
        node = producer[tensor]
        if node.name in passed:
            return 0.0
        passed.insert(0, node.name)
        return max((measured_above(name, passed) for name in node.input if name), default=0.0)

    added: dict[str, float] = {}
    groups: dict[str, list[str]] = {}
    for node in graph.node:
        if node.op_type in ("Constant", "Shape") or not node.output or node.output[0] not in error:
            continue
        passed: list[str] = []
        before = max((measured_above(name, passed) for name in node.input if name), default=0.0)
        added[node.name], groups[node.name] = error[node.output[0]] - before, [*passed, node.name]
    ranked = [name for name, value in sorted(added.items(), key=lambda item: -item[1]) if value > 0]
    return list(dict.fromkeys(member for name in ranked for member in groups[name]))
