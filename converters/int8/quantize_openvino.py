"""OpenVINO int8: NNCF post-training quantization on the run's calibration samples; accuracy-aware, when quantizing
everything falls below the target agreement, through NNCF's accuracy control with the task metric as its
validation function (it reverts the layers that cost the most agreement to float, one at a time)."""
from __future__ import annotations

import logging
import time

import numpy as np

from converters.int8.search import Judge, Search, SideBySide, choose_recipe, onnx_outputs, worth_it
from converters.step_io.feed_arrays import calibration
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact
from core.samples import stacked
from runtimes.openvino import PRECISION_HINT

# preset="auto" tries these in turn when an accuracy-aware search judges (the first wins a tie): performance
# quantizes activations symmetrically (NNCF's CPU default), mixed asymmetrically (an activation that is not
# centred on zero, after a Sigmoid or a shifted ReLU, keeps all 256 levels)
PRESETS = ("performance", "mixed")
# ops NNCF quantizes (an activation FakeQuantize on their data input): the ones that can be kept in float
QUANTIZABLE = ("Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul")
# float_part=auto takes bf16 only when it is at least this much faster side by side (the timing's noise)
BF16_MARGIN = 1.05


def quantize_int8(model, source: Artifact, options, run: StepInputs):
    """(quantized ov.Model, meta). `options`: onnx_to_openvino.Options."""
    import nncf

    samples = calibration(run.calibration)
    # one input: the array itself; several: a dict by input name (both what an OpenVINO request takes)
    items = [next(iter(s.values())) if len(s) == 1 else s for s in samples]
    aim = run.accuracy  # what the pipeline judges by; None: no search

    def quantize(preset: str):
        return nncf.quantize(model, nncf.Dataset(items), subset_size=len(items), preset=_preset(preset))

    def meta(preset: str) -> dict:
        return {"quantization": f"nncf {nncf.__version__} post-training", "calibration_samples": len(items),
                "preset": preset}

    if aim is None:  # auto: NNCF chooses (performance for a CNN, mixed for a transformer)
        quantized = quantize(options.preset)
        float_part, _ = _float_part(quantized, items, None, options.float_part)
        return quantized, {**meta(options.preset), "float_part": float_part}
    judge = Judge(onnx_outputs(source.path, samples), aim.processing, aim.task, aim.target)
    search = Search(judge.target, judge.metric_name(), len(items))
    started = time.perf_counter()
    made = {}

    def judged(preset: str) -> float:
        made[preset] = quantize(preset)
        return judge.agreement(outputs_of(made[preset], items))

    recipes = list(PRESETS) if options.preset == "auto" else [options.preset]
    preset = choose_recipe(recipes, judged, search, float("inf"))
    quantized = made[preset]
    search.agreement = search.plain_agreement
    if search.plain_agreement >= judge.target:
        search.stopped = "target met with everything quantized"
    else:
        aware = _accuracy_control(model, items, judge, options.max_float_nodes, preset)
        search.agreement = judge.agreement(outputs_of(aware, items))
        search.kept_in_float = sorted(quantized_ops(quantized) - quantized_ops(aware))
        search.stopped = "target met" if search.agreement >= judge.target else "NNCF's restorer ran out of layers"
        quantized = aware
    search.float_part, search.float_part_why = _float_part(quantized, items, judge, options.float_part)
    search.seconds = time.perf_counter() - started
    search.speedup = SideBySide(_call(model, items[0])).speedup(_call(quantized, items[0], search.float_part))
    worth_it(search, options.min_speedup, "OpenVINO")
    return quantized, {**meta(preset), "float_part": search.float_part, "accuracy_aware": search.as_meta()}


def _preset(name: str):
    import nncf

    return {"performance": nncf.QuantizationPreset.PERFORMANCE, "mixed": nncf.QuantizationPreset.MIXED,
            "auto": None}[name]


def _float_part(quantized, items: list, judge: Judge | None, asked: str) -> tuple[str, str]:
    """(fp32 or bf16, why) for what the int8 IR's float layers execute in. auto: bf16 when this CPU runs it natively,
    the judge's agreement at bf16 still meets the target and it is faster side by side; else fp32 (and fp32 with
    no judge to say whether bf16 keeps the agreement)."""
    if asked != "auto":
        return asked, "asked for (float_part)"
    if judge is None:
        return "fp32", "no judge for bf16's agreement"
    if not native_bf16():
        return "fp32", "this CPU has no native bf16 (no AVX-512 bf16 or AMX)"
    agreement = judge.agreement(outputs_of(quantized, items, "bf16"))
    speedup = SideBySide(_call(quantized, items[0])).speedup(_call(quantized, items[0], "bf16"))
    trial = f"bf16 {judge.metric_name()} {agreement:.3f} (target {judge.target:g}), {speedup:.2f}x fp32's speed"
    if agreement < judge.target:
        return "fp32", f"{trial}: below the target"
    if speedup < BF16_MARGIN:
        return "fp32", f"{trial}: not faster"
    return "bf16", trial


def native_bf16() -> bool:
    """The CPU plugin computes bf16 natively here (AVX-512 bf16 or AMX): its capabilities list BF16."""
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def _call(model, item, float_part: str = "fp32"):
    """One inference of an ov.Model as the artifact runs (latency hint, its float part's precision): SideBySide."""
    import openvino as ov

    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": PRECISION_HINT[float_part],
                                                      "PERFORMANCE_HINT": "LATENCY"})
    return lambda: compiled(item)


def outputs_of(model, items: list, float_part: str = "fp32") -> list[np.ndarray]:
    """An ov.Model's outputs on each item; at fp32 execution of its float part by default (the agreement of the int8
    layers alone)."""
    import openvino as ov

    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": PRECISION_HINT[float_part]})
    return stacked([_outputs(compiled, item) for item in items])


def _outputs(compiled, item) -> list[np.ndarray]:
    result = compiled(item)
    return [np.asarray(result[port]) for port in compiled.outputs]


def _accuracy_control(model, items: list, judge: Judge, max_float_nodes: int, preset: str):
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    def validation_fn(compiled, data) -> tuple[float, None]:
        data = list(data)  # (index, item) pairs: the index finds the item's reference outputs
        outputs = stacked([_outputs(compiled, item) for _, item in data])
        reference = [r[[i for i, _ in data]] for r in judge.reference]
        return Judge(reference, judge.processing, judge.task, judge.target).agreement(outputs), None

    validation = nncf.Dataset(list(enumerate(items)), lambda pair: pair[1])
    logging.getLogger("nncf").setLevel(logging.INFO)  # its log (the layers it reverts) goes to the step's log
    return nncf.quantize_with_accuracy_control(
        model, nncf.Dataset(items), validation, validation_fn, max_drop=max(0.0, 1.0 - judge.target),
        drop_type=nncf.DropType.ABSOLUTE, subset_size=len(items), preset=_preset(preset),
        advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
            max_num_iterations=max_float_nodes))


def quantized_ops(model) -> set[str]:
    """Friendly names of the ops whose data input is fake-quantized (they run int8)."""
    names = set()
    for op in model.get_ordered_ops():
        if op.get_type_name() in QUANTIZABLE:
            producer = op.input_value(0).get_node()
            if producer.get_type_name() == "FakeQuantize":
                names.add(op.get_friendly_name())
    return names
