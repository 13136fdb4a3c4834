"""Test-only step (`kind: tests.steps.perturb`): a converter bug on purpose. Copies an ONNX with one
output channel of the N-th Conv's kernel negated."""
from pathlib import Path

from core.artifact import Artifact


def convert(source: Artifact, options: dict, run, workdir: Path) -> list[Artifact]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(source.path)
    target = [n for n in model.graph.node if n.op_type == "Conv"][int(options.get("conv_index", 1))]
    weight = next(w for w in model.graph.initializer if w.name == target.input[1])
    values = numpy_helper.to_array(weight).copy()
    values[0] *= -1.0
    weight.CopyFrom(numpy_helper.from_array(values, weight.name))
    path = workdir / "model.onnx"
    onnx.save(model, str(path))
    return [Artifact(name="", format="onnx", path=str(path), inputs=source.inputs, outputs=source.outputs,
                     meta={"perturbed_node": target.name})]
