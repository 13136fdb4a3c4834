"""Test-only step (`kind: tests.steps.miscompile`): a converter that miscompiles one node on purpose. The node named by
`node` has its weight (input 1) negated, then the real step `then` converts the result with the other options;
a model without that node (a reduced one, say) is converted faithfully."""
from dataclasses import replace
from pathlib import Path

from converters import step_module, step_options
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact


def convert(source: Artifact, options: dict, run: StepInputs, workdir: Path) -> list[Artifact]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(source.path)
    node = next((n for n in model.graph.node if n.name == options["node"]), None)
    if node is not None:
        weight = next(w for w in model.graph.initializer if w.name == node.input[1])
        weight.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(weight), weight.name))
    path = workdir / "miscompiled.onnx"
    onnx.save(model, str(path))
    inner = {key: value for key, value in options.items() if key not in ("node", "then")}
    then = step_module(options["then"])
    made = then.convert(replace(source, path=str(path)), step_options(then, inner), run, workdir)
    path.unlink()
    for artifact in made:
        artifact.meta["miscompiled_node"] = node.name if node is not None else None
    return made
