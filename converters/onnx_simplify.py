"""ONNX -> simplified ONNX with onnxsim; records node counts before/after and whether its check passed."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from converters.onnx_io import opset_of, tensor_specs
from core.artifact import Artifact
from core.errors import StepFailed

PACKAGES = ("onnx", "onnxsim")  # their versions are part of this step's cache key


@dataclass(frozen=True)
class Options:
    """graph.steps.<name> options (conf/step/onnx_simplify.yaml), checked with the config before anything runs."""

    check_n: int = 3  # onnxsim's own random-input checks of the simplified model


def convert(source: Artifact, options: dict, workdir: Path) -> list[Artifact]:
    import onnx
    import onnxsim

    model = onnx.load(source.path)
    before = len(model.graph.node)
    simplified, check_ok = onnxsim.simplify(model, check_n=int(options.get("check_n", 3)))
    if not check_ok:
        raise StepFailed("onnxsim's own check of the simplified model failed")
    path = workdir / "model.onnx"
    onnx.save(simplified, str(path))
    inputs, outputs = tensor_specs(simplified)
    return [Artifact(name="", format="onnx", path=str(path), inputs=inputs, outputs=outputs,
                     meta={**source.meta, "opset": opset_of(simplified), "nodes_before": before,
                           "nodes": len(simplified.graph.node), "onnxsim_check": check_ok,
                           "onnxsim": onnxsim.__version__})]
