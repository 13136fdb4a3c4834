"""TF SavedModel -> TFLite (fp32, fp16 weights, or int8 full-integer ops) with tf.lite.TFLiteConverter,
one precision per step. int8 calibrates on the run's calibration images; input and output stay float32 so
every runtime takes the same batch; accuracy-aware by default (converters/int8/quantize_tflite.py: when quantizing
everything falls below the target agreement, the layers that add the most error stay float).

The converter settings are onnx2tf's own (builtin ops plus select TF ops; fp16 = float16 weight storage),
so the file matches what `onnx2tf` writes, but it is made from the SavedModel artifact itself and carries
its serving signature (output names `output_K`, which the runtime adapter maps onto the ONNX outputs).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from converters.failures.failure_site import converting
from converters.int8.quantize_tflite import quantize_int8
from converters.int8.search import BudgetedSearch
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact
from core.errors import NotApplicable, StepFailed

PACKAGES = ("tensorflow", "ai-edge-litert")  # their versions are part of this step's cache key
DEPENDS_ON_CPU = True  # its int8 search times candidates on this CPU: the key carries its instruction sets
# the modules the int8 file depends on besides this one: the search, its judge, the runtimes that run candidates
CODE = ("converters.int8.quantize_tflite", "converters.int8.tflite_candidates", "converters.int8.search",
        "converters.step_io.feed_arrays", "runtimes.tflite", "runtimes.tflite_profile", "runtimes.profiling",
        "runtimes.tensorflow", "runtimes.matching", "validators.task_metrics")

PRECISIONS = ("fp32", "fp16", "int8")
WEIGHTS = {"fp32": "float32", "fp16": "float16", "int8": "int8 (activations int8, float32 input/output)"}


@dataclass(frozen=True)
class Options(BudgetedSearch):
    """graph.steps.<name> options and their defaults (conf/step/tf_to_tflite.yaml overrides them); checked with the
    config before anything runs."""

    precision: Literal["fp32", "fp16", "int8", "bf16"] = "fp32"  # bf16: not applicable (recorded n/a)
    # int8, accuracy-aware (converters.int8.search.BudgetedSearch): TFLite's quantization debugger ranks the layers by
    # the error each adds and selective quantization keeps the worst in float


def convert(source: Artifact, options: Options, run: StepInputs, workdir: Path) -> list[Artifact]:
    precision = options.precision
    if precision == "bf16":
        raise NotApplicable("TFLite's CPU kernels have no bf16")
    if precision not in PRECISIONS:
        raise StepFailed(f"precision={precision!r} is not produced by this step; it makes {', '.join(PRECISIONS)}")
    import tensorflow as tf

    quantization = {}
    if precision == "int8":  # its own converter, after the float reference the search judges by
        with converting("the TFLite converter"):
            content, quantization = quantize_int8(source, options, run, workdir)
    else:
        converter = tf.lite.TFLiteConverter.from_saved_model(source.path, signature_keys=["serving_default"])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
        if precision == "fp16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        with converting("the TFLite converter"):
            content = converter.convert()
    flex = sorted({op.decode() for op in re.findall(rb"Flex[A-Z][A-Za-z0-9]*", content)})
    if flex:  # select TF ops: the converter allows them, ai-edge-litert has no Flex delegate to run them
        raise StepFailed(f"the TFLite file needs TensorFlow op(s) {', '.join(flex)}, which ai-edge-litert cannot "
                         "run; onnx2tf can replace some ops by builtins (graph.steps.tf.pseudo_ops)")
    weights, aware = WEIGHTS[precision], quantization.get("accuracy_aware") or {}
    if aware.get("kept_in_float") or aware.get("ops_kept_in_float"):
        ops = "".join(f", every {op}" for op in aware.get("ops_kept_in_float") or [])
        weights += f"; float32 in the {len(aware.get('kept_in_float') or [])} layers{ops} kept in float"
    path = workdir / f"model_{precision}.tflite"
    path.write_bytes(content)
    return [Artifact(name="", format="tflite", path=str(path), precision=precision,
                     inputs=source.inputs, outputs=source.outputs,
                     meta={**{k: v for k, v in source.meta.items() if k in ("onnx2tf", "opset")},
                           "tensorflow": tf.__version__, "weights": weights,
                           "converter": "tf.lite.TFLiteConverter.from_saved_model (builtins + select TF ops)",
                           **quantization})]
