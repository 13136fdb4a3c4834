"""TFLite int8: full-integer ops calibrated on the run's calibration samples, float32 at the edges; accuracy-aware,
when quantizing everything falls below the target agreement, through TensorFlow Lite's own tools: the quantization
debugger ranks the layers by the error each adds (its debug model runs every quantized layer beside a float twin
fed the same inputs), and selective quantization (QuantizationDebugOptions(denylisted_nodes=...)) keeps the worst
ones in float, float builtins beside the int8 ones; converters/int8/search.py's keep_in_float searches how many.
An op type whose int8 kernel cannot run the samples at all (a DIV whose divisor quantizes to zero) goes float
everywhere first (denylisted_ops).

The error a layer adds is measured per channel relative to the channel's magnitude (as ONNX Runtime's search does),
not by the debugger's default rmse / scale: that one is the error in steps of the layer's own quantization, about
0.29 for any layer rounded well, however coarse its steps are for the values that matter (PP-OCRv4's text
detector, 32 layers kept in float: mean IoU 0.583 from 0.579 when ranked by rmse / scale, 0.645 by relative error).
Either is a layer's own error: where the harm is a tensor quantized too coarsely for the layers after it, the
agreement comes back only once that whole chain is float.

Candidates are judged by the task agreement with the step's own float input: the SavedModel run by TensorFlow on
the calibration samples, its tensors paired with the reference's (names, NHWC) as the runtimes pair them.
"""
from __future__ import annotations

import csv
import io
import math
import re
import time
from pathlib import Path

import numpy as np

from converters.int8.search import Judge, Search, SideBySide, keep_in_float, relative_error, worth_it
from converters.int8.tflite_candidates import outputs_of, profiled, timed_call
from converters.step_io.feed_arrays import calibration
from converters.step_io.step_inputs import StepInputs, TaskTarget
from core.artifact import Artifact
from core.samples import stacked
from runtimes.base import Settings, for_runner, to_layout
from runtimes.matching import match_inputs, scalars_of, shape_of

RANKED_BY = ("the error each layer adds: its quantized output against its float twin's on the same inputs, per "
             "channel relative to the channel's magnitude (tf.lite.experimental.QuantizationDebugger)")
SignatureCall = dict[str, np.ndarray]  # one sample by the SavedModel's own input names, in its layout and dtypes


def quantize_int8(source: Artifact, options, run: StepInputs, workdir: Path) -> tuple[bytes, dict]:
    """(the .tflite file's content, the meta of how it was made). `options`: tf_to_tflite.Options."""
    samples = calibration(run.calibration)
    if run.accuracy is not None:  # the pipeline judges with the task
        return _accuracy_aware(source, options, run.accuracy, workdir, samples)
    import tensorflow as tf

    converter = _converter(tf, source, _signature_feeds(tf, source, samples))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]  # every op int8, or it fails
    return converter.convert(), _meta(tf, samples, "int8 builtins only")


def _accuracy_aware(source: Artifact, options, aim: TaskTarget, workdir: Path,
                    samples: list[dict]) -> tuple[bytes, dict]:
    from runtimes.tensorflow import TensorFlowRunner

    # the float reference first: TensorFlow fixes its thread pools at first use (the converter loads the model)
    reference = TensorFlowRunner(source, Settings())
    judge = Judge(stacked([reference(for_runner(reference, s)) for s in samples]), aim.processing, aim.task,
                  aim.target)
    feeds = [{reference.names[name]: value.astype(reference.dtypes[name].as_numpy_dtype)
              for name, value in for_runner(reference, sample).items()} for sample in samples]
    del reference
    import tensorflow as tf

    started = time.perf_counter()
    converter = _converter(tf, source, feeds)
    # int8 builtins, and float ones for the layers kept in float (the denylist; empty at first)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    order: list[str] = []  # the debug model's input order (the debugger feeds lists), known once it is made

    def dataset():
        return ([feed[name] for name in order] for feed in feeds)

    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=dataset)
    order.extend(_input_order(tf, debugger.quant_model))
    candidates = Candidates(tf, debugger, judge, lambda content: outputs_of(content, source, workdir, samples))
    float_content = _float_model(tf, source)
    timing = SideBySide(timed_call(float_content, source, workdir, samples[0]))

    def speedup(kept: list[str]) -> float:
        return timing.speedup(timed_call(candidates.make(kept), source, workdir, samples[0]))

    search = Search(judge.target, judge.metric_name(), len(samples))
    search.plain_agreement = search.agreement = candidates.agreement([])
    meta, kept = _meta(tf, samples, "int8 builtins; float builtins for the layers kept in float"), []
    if search.plain_agreement >= judge.target:
        search.stopped = "target met with everything quantized"
    else:
        ranking = _rank(tf, candidates, dataset, search)
        if candidates.float_ops:  # op types whose int8 kernels cannot run the samples are float from here on
            search.agreement = candidates.agreement([])
        if ranking is not None and search.agreement < judge.target:
            ranked = [layer["node"] for layer in ranking][: options.max_float_nodes]
            budget = options.budget_s - (time.perf_counter() - started)
            kept = keep_in_float(ranked, candidates.agreement, search, budget, speedup)  # timed below
            search.agreement = candidates.agreement(kept)
            meta.update(ranked_by=RANKED_BY, ranking=ranking[: len(ranked)])
        elif ranking is not None:
            search.stopped = f"target met with every {', '.join(candidates.float_ops)} op in float"
    search.kept_in_float = kept
    search.seconds = time.perf_counter() - started
    search.speedup = speedup(kept)
    worth_it(search, options.min_speedup, "TensorFlow Lite",
             lambda: profiled(candidates.make(kept), float_content, source, workdir, samples[0]))
    aware = {**search.as_meta(), "ops_kept_in_float": candidates.float_ops, "failed_to_run": candidates.failed}
    return candidates.make(kept), {**meta, "accuracy_aware": aware}


class Candidates:
    """int8 models of one calibration (the debugger's), some layers or op types kept in float, each judged once."""

    def __init__(self, tf, debugger, judge: Judge, run):
        self.tf, self.debugger, self.judge, self.run = tf, debugger, judge, run
        self.float_ops: list[str] = []  # op types whose int8 kernel refused the samples: float everywhere
        self.failed: list[dict] = []  # candidates that could not run, and why
        self.made: dict[tuple, bytes] = {}
        self.scores: dict[tuple, float] = {}
        self.started = time.perf_counter()

    def key(self, kept: list[str]) -> tuple:
        return tuple(self.float_ops), tuple(kept)

    def make(self, kept: list[str]) -> bytes:
        if self.key(kept) not in self.made:
            _denylist(self.tf, self.debugger, self.float_ops, kept)
            self.made[self.key(kept)] = self.debugger.get_nondebug_quantized_model()
        return self.made[self.key(kept)]

    def debug_model(self) -> bytes:
        """Every layer quantized (but the float op types), each beside a float twin fed the same inputs."""
        _denylist(self.tf, self.debugger, self.float_ops, [])
        return self.debugger.get_debug_quantized_model()

    def agreement(self, kept: list[str]) -> float:
        if self.key(kept) not in self.scores:
            try:
                self.scores[self.key(kept)] = self.judge.agreement(self.run(self.make(kept)))
                result = f"{self.judge.metric_name()} {self.scores[self.key(kept)]:.4f}"
            except RuntimeError as error:  # an int8 kernel refused the values (a DIV by a divisor quantized to 0)
                self.failed.append({"kept": len(kept), "float_ops": list(self.float_ops), "error": _why(error)})
                self.scores[self.key(kept)], result = 0.0, f"failed to run: {_why(error)}"
            ops = f" and every {', '.join(self.float_ops)} op" if self.float_ops else ""
            say(f"{len(kept)} layer(s){ops} in float: {result} (target {self.judge.target}, "
                f"{time.perf_counter() - self.started:.0f} s)")
        return self.scores[self.key(kept)]


def _rank(tf, candidates: Candidates, dataset, search: Search) -> list[dict] | None:
    """rank_layers on the candidates' debug model; an op type whose int8 kernel fails on the samples goes float
    (every op of it) and the ranking runs again. None (and why, in search.stopped) when it cannot run."""
    while True:
        try:
            ranking = rank_layers(tf, candidates.debug_model(), dataset)
        except RuntimeError as error:
            refused = re.search(r"Node number \d+ \((\w+)\) failed to invoke", str(error))
            if refused is None or refused.group(1) in candidates.float_ops:
                search.stopped = f"the quantization debugger's model failed to run: {_why(error)}"
                return None
            candidates.float_ops.append(refused.group(1))
            say(f"int8 {refused.group(1)} failed to run ({_why(error)}): every {refused.group(1)} op stays float")
            continue
        say(f"{len(ranking)} layers add error; the worst: "
            + "; ".join(f"{layer['node']} {layer['relative_error']:.3f}" for layer in ranking[:5]))
        return ranking


def rank_layers(tf, debug_model: bytes, dataset) -> list[dict]:
    """The quantized layers, the ones that add the most error first: {node (its output tensor, what a denylist
    names), relative_error, rmse_scale}. The debugger's debug model runs every layer quantized beside its float twin
    fed the same (quantized model's) inputs; a layer's error is its output's against its twin's, per channel relative
    to the channel's magnitude (as for ONNX Runtime), with the debugger's rmse / scale beside it."""
    stats = tf.lite.experimental.QuantizationDebugger(
        quant_debug_model_content=debug_model, debug_dataset=dataset,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(
            layer_direct_compare_metrics={"relative_error": _relative_error}))
    stats.run()
    dump = io.StringIO()
    stats.layer_statistics_dump(dump)
    layers: dict[str, dict] = {}
    for row in csv.DictReader(io.StringIO(dump.getvalue())):
        error, scale, mse = (float(row[key] or "nan") for key in ("relative_error", "scale", "mean_squared_error"))
        # a layer that adds no error itself (a pad, a concatenation) stays a candidate, last: between layers kept
        # in float it would quantize their values again
        if not math.isfinite(error):
            continue
        if row["tensor_name"] not in layers or error > layers[row["tensor_name"]]["relative_error"]:
            layers[row["tensor_name"]] = {"node": row["tensor_name"], "relative_error": error,
                                          "rmse_scale": math.sqrt(mse) / scale if scale > 0 else None}
    return [{key: round(value, 4) if isinstance(value, float) else value for key, value in layer.items()}
            for layer in sorted(layers.values(), key=lambda layer: -layer["relative_error"])]


def _relative_error(float_value: np.ndarray, quantized: np.ndarray, scale: float, zero_point: int) -> float:
    """A layer_direct_compare_metric: the dequantized output against the float twin's, channels last."""
    dequantized = (quantized.astype(np.float64) - zero_point) * scale
    if float_value.ndim < 2:
        return relative_error(float_value, dequantized)
    return relative_error(np.moveaxis(float_value, -1, 1), np.moveaxis(dequantized, -1, 1))


def say(line: str) -> None:
    """A line of the search's progress, into the step's log."""
    print(f"[tflite int8] {line}", flush=True)


def _denylist(tf, debugger, ops: list[str], nodes: list[str]) -> None:
    """Selective quantization: these op types and layers stay float in the models the debugger makes from now on."""
    current = debugger.options
    if list(current.denylisted_ops or []) == list(ops) and list(current.denylisted_nodes or []) == list(nodes):
        return
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(ops) or None,
                                                           denylisted_nodes=list(nodes) or None)
    try:
        debugger.options = options  # also rebuilds its debug model...
    except ValueError:  # ...which has no layer left to verify when every quantized layer is denylisted
        if debugger.options is not options:
            raise


def _why(error: BaseException) -> str:
    """The line of a TFLite error that says what failed (the debug model prints its statistics before it)."""
    lines = [line for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    return next((line for line in lines if "failed to invoke" in line), lines[0]).strip()


def _meta(tf, samples: list[dict], ops: str) -> dict:
    return {"quantization": f"tflite post-training integer (tensorflow {tf.__version__})",
            "calibration_samples": len(samples), "converter": f"tf.lite.TFLiteConverter.from_saved_model ({ops})"}


def _converter(tf, source: Artifact, feeds: list[SignatureCall]):
    converter = tf.lite.TFLiteConverter.from_saved_model(source.path, signature_keys=["serving_default"])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: iter(feeds)
    converter.inference_input_type = tf.float32  # float32 at the edges: every runtime takes the same batch
    converter.inference_output_type = tf.float32
    return converter


def _signature_feeds(tf, source: Artifact, samples: list[dict]) -> list[SignatureCall]:
    """The calibration samples (the reference's names, NCHW) as the SavedModel's signature takes them."""
    signature = tf.saved_model.load(source.path).signatures["serving_default"].structured_input_signature[1]
    pairs = match_inputs(source, {name: shape_of(spec.shape) for name, spec in signature.items()})
    scalars = scalars_of(source, {name: shape_of(spec.shape) for name, spec in signature.items()}, pairs)
    return [{theirs: to_layout(sample[ours].reshape(1) if ours in scalars else sample[ours], layout or "NCHW")
             .astype(signature[theirs].dtype.as_numpy_dtype) for ours, (theirs, layout) in pairs.items()}
            for sample in samples]


def _input_order(tf, model: bytes) -> list[str]:
    """The signature's input names in the order of the model's input tensors (what the debugger feeds by)."""
    interpreter = tf.lite.Interpreter(model_content=model)
    by_index = {detail["index"]: name for name, detail in
                interpreter.get_signature_runner("serving_default").get_input_details().items()}
    return [by_index[detail["index"]] for detail in interpreter.get_input_details()]


def _float_model(tf, source: Artifact) -> bytes:
    """The SavedModel as float32 builtins (the tf_to_tflite step's fp32 file, which ai-edge-litert runs when it has
    no Flex op): what int8 must beat."""
    converter = tf.lite.TFLiteConverter.from_saved_model(source.path, signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()
