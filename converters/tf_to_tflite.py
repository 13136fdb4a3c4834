"""TF SavedModel -> TFLite (fp32, fp16 weights, or int8 full-integer ops) with tf.lite.TFLiteConverter,
one precision per step. int8 calibrates on the run's calibration images; input and output stay float32 so
every runtime takes the same batch.

The converter settings are onnx2tf's own (builtin ops plus select TF ops; fp16 = float16 weight storage),
so the file matches what `onnx2tf` writes, but it is made from the SavedModel artifact itself and carries
its serving signature (output names `output_K`, which the runtime adapter maps onto the ONNX outputs).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from converters.samples import calibration
from core.artifact import Artifact
from core.errors import NotApplicable, StepFailed
from runtimes.base import to_layout
from runtimes.matching import match_inputs, shape_of

PACKAGES = ("tensorflow",)  # their versions are part of this step's cache key

PRECISIONS = ("fp32", "fp16", "int8")
WEIGHTS = {"fp32": "float32", "fp16": "float16", "int8": "int8 (activations int8, float32 input/output)"}


@dataclass(frozen=True)
class Options:
    """graph.steps.<name> options (conf/step/tf_to_tflite.yaml), checked with the config before anything runs."""

    precision: Literal["fp32", "fp16", "int8", "bf16"] = "fp32"  # bf16: not applicable (recorded n/a)



def convert(source: Artifact, options: dict, workdir: Path) -> list[Artifact]:
    precision = options.get("precision", "fp32")
    if precision == "bf16":
        raise NotApplicable("TFLite's CPU kernels have no bf16")
    if precision not in PRECISIONS:
        raise StepFailed(f"precision={precision!r} is not produced by this step; it makes {', '.join(PRECISIONS)}")
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(source.path, signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        _full_integer(converter, tf, source, calibration(options))
    content = converter.convert()
    flex = sorted({op.decode() for op in re.findall(rb"Flex[A-Z][A-Za-z0-9]*", content)})
    if flex:  # select TF ops: the converter allows them, ai-edge-litert has no Flex delegate to run them
        raise StepFailed(f"the TFLite file needs TensorFlow op(s) {', '.join(flex)}, which ai-edge-litert cannot "
                         "run; onnx2tf can replace some ops by builtins (graph.steps.tf.pseudo_ops)")
    path = workdir / f"model_{precision}.tflite"
    path.write_bytes(content)
    return [Artifact(name="", format="tflite", path=str(path), precision=precision,
                     inputs=source.inputs, outputs=source.outputs,
                     meta={**{k: v for k, v in source.meta.items() if k in ("onnx2tf", "opset")},
                           "tensorflow": tf.__version__, "weights": WEIGHTS[precision],
                           "converter": "tf.lite.TFLiteConverter.from_saved_model (builtins + select TF ops)"})]


def _full_integer(converter, tf, source: Artifact, samples: list[dict]) -> None:
    """int8 weights and activations for every op (no float fallback), float32 at the edges."""
    signature = tf.saved_model.load(source.path).signatures["serving_default"].structured_input_signature[1]
    # calibration samples are in the reference's names and layout (NCHW); onnx2tf's SavedModel takes images NHWC
    pairs = match_inputs(source, {name: shape_of(spec.shape) for name, spec in signature.items()})

    def representative():
        for sample in samples:
            yield {theirs: to_layout(sample[ours], layout or "NCHW").astype(signature[theirs].dtype.as_numpy_dtype)
                   for ours, (theirs, layout) in pairs.items()}

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.float32
    converter.inference_output_type = tf.float32
