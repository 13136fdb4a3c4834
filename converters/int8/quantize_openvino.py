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

# preset="auto" tries these in turn when an accuracy-aware search judges (the first wins a tie): performance
# quantizes activations symmetrically (NNCF's CPU default), mixed asymmetrically (an activation that is not
# centred on zero, after a Sigmoid or a shifted ReLU, keeps all 256 levels)
PRESETS = ("performance", "mixed")
# ops NNCF quantizes (an activation FakeQuantize on their data input): the ones that can be kept in float
QUANTIZABLE = ("Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul")


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
        return quantize(options.preset), meta(options.preset)
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
    search.seconds = time.perf_counter() - started
    search.speedup = SideBySide(_call(model, items[0])).speedup(_call(quantized, items[0]))
    worth_it(search, options.min_speedup, "OpenVINO")
    return quantized, {**meta(preset), "accuracy_aware": search.as_meta()}


def _preset(name: str):
    import nncf

    return {"performance": nncf.QuantizationPreset.PERFORMANCE, "mixed": nncf.QuantizationPreset.MIXED,
            "auto": None}[name]


def _call(model, item):
    """One inference of an ov.Model as the artifact runs: latency hint, f32 for what is not int8 (SideBySide)."""
    import openvino as ov

    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"})
    return lambda: compiled(item)


def outputs_of(model, items: list) -> list[np.ndarray]:
    """An ov.Model's outputs on each item, at fp32 execution (the agreement of the int8 layers alone)."""
    import openvino as ov

    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
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
