"""Source step: start a graph from a TorchScript (.pt) or ExportedProgram (.pt2) file
(`model=torchscript model.path=FILE`). No Python source of the model is needed."""
from __future__ import annotations

import shutil
from pathlib import Path

from converters.step_io.feed_arrays import example
from converters.step_io.step_inputs import SourceOptions, StepInputs
from core.artifact import Artifact, TensorSpec
from core.errors import UserError, first_line
from runtimes.torch import callable_module, load_torch

PACKAGES = ("torch",)  # its version is part of this step's cache key
Options = SourceOptions


def convert(source: None, options: SourceOptions, run: StepInputs, workdir: Path) -> list[Artifact]:
    import torch

    path = options.model["path"]
    loader = "exported_program" if str(path).endswith(".pt2") else "torchscript"
    try:
        model = load_torch(path, loader)
    except Exception as error:
        first = first_line(error)
        raise UserError(f"model.path={path!r} is not a {loader} file: {first}") from error
    feeds = run.feeds
    try:
        with torch.inference_mode():
            outputs = callable_module(model)(*[torch.from_numpy(example(f)) for f in feeds])
    except Exception as error:
        first = first_line(error)
        shapes = ", ".join(f"{f.name} {f.dtype} {f.shape}" for f in feeds)
        raise UserError(f"the model in {path!r} rejects inputs {shapes}: {first}") from error
    outputs = outputs if isinstance(outputs, (tuple, list)) else [outputs]
    target = workdir / Path(path).name
    shutil.copyfile(path, target)
    names = list(options.model.get("outputs") or []) + [f"output{i}" for i in range(len(outputs))]
    return [Artifact(name="model", format="torch", path=str(target),
                     inputs=[TensorSpec(f.name, f.shape, f.layout, f.dtype) for f in feeds],
                     outputs=[TensorSpec(n, list(o.shape), dtype=str(o.numpy().dtype))
                              for n, o in zip(names, outputs, strict=False)],
                     meta={"loader": loader, "origin": path})]
