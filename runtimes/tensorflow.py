"""TensorFlow, eager, on a SavedModel's serving signature (onnx2tf's output: NHWC, tensors renamed; the
Runner maps them back onto the reference through runtimes.matching)."""
from __future__ import annotations

from dataclasses import dataclass

from core.artifact import Artifact
from runtimes.base import Runtime, Settings, positive
from runtimes.matching import (
    MappedRunner,
    TensorMatchError,
    apply_plans,
    match_inputs,
    match_outputs,
    scalars_of,
    shape_of,
)


@dataclass(frozen=True)
class Options:
    """bench.runtime.tensorflow"""

    inter_op_threads: int = 1

    def __post_init__(self):
        positive("inter_op_threads", self.inter_op_threads)


class TensorFlowRunner(MappedRunner):
    """The SavedModel's serving signature, called eagerly with the named tensors."""

    runtime = "tensorflow"

    def __init__(self, artifact: Artifact, settings: Settings):
        import tensorflow as tf

        # Before anything runs: TF fixes its thread pools at first use.
        inter = settings.of(RUNTIME).inter_op_threads
        tf.config.threading.set_intra_op_parallelism_threads(settings.n_threads)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
        self.applied = {"intra_op_threads": settings.n_threads, "inter_op_threads": inter}
        self.tf, self.version = tf, tf.__version__
        self.model = tf.saved_model.load(artifact.path)  # kept: the signature does not own the variables
        if "serving_default" not in self.model.signatures:
            raise TensorMatchError(f"{artifact.name}: the SavedModel has no serving_default signature "
                                   f"(it has {list(self.model.signatures)})")
        self.function = self.model.signatures["serving_default"]
        signature = self.function.structured_input_signature[1]
        shapes = {name: shape_of(spec.shape) for name, spec in signature.items()}
        pairs = match_inputs(artifact, shapes)
        self.scalars = scalars_of(artifact, shapes, pairs)  # rank-0 inputs the signature takes as [1]
        self.names = {ours: theirs for ours, (theirs, _) in pairs.items()}
        self.dtypes = {ours: signature[theirs].dtype for ours, theirs in self.names.items()}
        self.layouts = {ours: layout for ours, (_, layout) in pairs.items() if layout}
        outputs = {n: shape_of(s.shape) for n, s in self.function.structured_outputs.items()}
        self.reference, self.plans = artifact.outputs, match_outputs(artifact.name, artifact.outputs, outputs)

    def __call__(self, inputs):
        if self.scalars:
            inputs = {n: a.reshape(1) if n in self.scalars else a for n, a in inputs.items()}
        result = self.function(**{self.names[n]: self.tf.constant(a, self.dtypes[n]) for n, a in inputs.items()})
        return apply_plans(self.plans, {name: tensor.numpy() for name, tensor in result.items()})


RUNTIME = Runtime(name="tensorflow", label="TensorFlow", format="tf_savedmodel", packages=("tensorflow",),
                  runner=TensorFlowRunner, options=Options, warm_import="tensorflow")
