"""Source step: build the configured PyTorch model and save it as the `torch` artifact (a pickled module)."""
from __future__ import annotations

from pathlib import Path

from converters.step_io.feed_arrays import example
from converters.step_io.step_inputs import SourceOptions, StepInputs
from core.artifact import Artifact, TensorSpec

PACKAGES = ("torch", "torchvision", "ultralytics", "transformers")  # their versions are part of this step's cache key
# the model factory's own code is part of the key too: a changed factory must not reuse an old model.pt
CODE = ("models", "models.builtin", "models.torchvision", "models.ultralytics", "models.transformers",
        "models.weights", "core.prepost", "core.images")
Options = SourceOptions


def convert(source: None, options: SourceOptions, run: StepInputs, workdir: Path) -> list[Artifact]:
    import torch

    from models import build_model

    model = build_model(options.model, options.seed)
    feeds = run.feeds
    with torch.inference_mode():
        outputs = model(*[torch.from_numpy(example(f)) for f in feeds])
    outputs = outputs if isinstance(outputs, (tuple, list)) else [outputs]
    names = list(options.model.get("outputs") or [])
    names += [f"output{i}" for i in range(len(names), len(outputs))]
    path = workdir / "model.pt"
    torch.save(model, path)  # whole module: the eager runtime needs its Python classes, as in real life
    return [Artifact(
        name="model", format="torch", path=str(path),
        inputs=[TensorSpec(f.name, f.shape, f.layout, f.dtype) for f in feeds],
        outputs=[TensorSpec(n, list(o.shape), dtype=str(o.numpy().dtype))
                 for n, o in zip(names, outputs, strict=False)],
        meta={"parameters": sum(p.numel() for p in model.parameters())})]
