"""TF SavedModel -> TFLite (fp32, or fp16 weights) with tf.lite.TFLiteConverter, one precision per step.

The converter settings are onnx2tf's own (builtin ops plus select TF ops; fp16 = float16 weight storage),
so the file matches what `onnx2tf` writes, but it is made from the SavedModel artifact itself and carries
its serving signature (output names `output_K`, which the runtime adapter maps onto the ONNX outputs).
"""
from __future__ import annotations

from pathlib import Path

from core.artifact import Artifact
from core.errors import StepFailed

PACKAGES = ("tensorflow",)  # their versions are part of this step's cache key

PRECISIONS = ("fp32", "fp16")
# options and their types or allowed values, checked before anything runs
OPTIONS = {"precision": PRECISIONS}


def convert(source: Artifact, options: dict, workdir: Path) -> list[Artifact]:
    precision = options.get("precision", "fp32")
    if precision not in PRECISIONS:
        raise StepFailed(f"precision={precision!r} is not produced by this step; it makes {', '.join(PRECISIONS)}")
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(source.path, signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    path = workdir / f"model_{precision}.tflite"
    path.write_bytes(converter.convert())
    return [Artifact(name="", format="tflite", path=str(path), precision=precision,
                     inputs=source.inputs, outputs=source.outputs,
                     meta={**{k: v for k, v in source.meta.items() if k in ("onnx2tf", "opset")},
                           "tensorflow": tf.__version__, "weights": {"fp32": "float32", "fp16": "float16"}[precision],
                           "converter": "tf.lite.TFLiteConverter.from_saved_model (builtins + select TF ops)"})]
