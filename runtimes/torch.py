"""PyTorch eager: the reference. Runs a pickled nn.Module (the model source step's artifact), TorchScript or an
ExportedProgram (.pt2). A pickled module needs the model's Python classes: it does not run without its source."""
from __future__ import annotations

from dataclasses import dataclass

from core.artifact import Artifact
from runtimes.base import Runner, Runtime, Settings, positive


@dataclass(frozen=True)
class Options:
    """bench.runtime.torch"""

    inter_op_threads: int = 1

    def __post_init__(self):
        positive("inter_op_threads", self.inter_op_threads)


def load_torch(path: str, loader: str):
    """A `torch` artifact, whichever way it was saved: a pickled nn.Module (our source step), TorchScript
    (torch.jit.save) or an ExportedProgram (torch.export.save, .pt2). Shared with the export step."""
    import torch

    if loader == "torchscript":
        return torch.jit.load(path, map_location="cpu").eval()
    if loader == "exported_program":
        return torch.export.load(path)
    return torch.load(path, weights_only=False).eval()


def callable_module(model):
    """Something to call with a tensor: an ExportedProgram runs through its .module()."""
    import torch

    return model.module() if isinstance(model, torch.export.ExportedProgram) else model


class TorchRunner(Runner):
    runtime = "torch"

    def __init__(self, artifact: Artifact, settings: Settings):
        import torch

        self.torch = torch
        options = settings.of(RUNTIME)
        torch.set_num_threads(settings.n_threads)
        if torch.get_num_interop_threads() != options.inter_op_threads:
            try:  # only possible before any inter-op work: a fresh process; `applied` records what holds
                torch.set_num_interop_threads(options.inter_op_threads)
            except RuntimeError:
                pass
        self.version = torch.__version__
        self.model = callable_module(load_torch(artifact.path, artifact.meta.get("loader", "pickle")))
        self.names = [spec.name for spec in artifact.inputs]  # forward() takes them in this order
        self.applied = {"intra_op_threads": torch.get_num_threads(),
                        "inter_op_threads": torch.get_num_interop_threads()}

    def __call__(self, inputs):
        with self.torch.inference_mode():
            out = self.model(*[self.torch.from_numpy(inputs[name]) for name in self.names])
        out = out if isinstance(out, (tuple, list)) else [out]
        return [o.numpy() for o in out]


def bare_loop(artifact: Artifact, inputs: dict, threads: int):
    import torch

    torch.set_num_threads(threads)
    model = torch.load(artifact.path, weights_only=False).eval()
    tensors = [torch.from_numpy(inputs[spec.name]) for spec in artifact.inputs]

    def forward():
        with torch.inference_mode():
            return model(*tensors)
    return forward


RUNTIME = Runtime(
    name="torch", label="PyTorch", format="torch", packages=("torch",), runner=TorchRunner, options=Options,
    runs_without_source=False, bare_loop=bare_loop, warm_import="torch",
    # eager PyTorch takes any batch; a traced or exported file keeps the batch it was saved with
    takes_any_batch=lambda artifact: artifact.meta.get("loader", "pickle") == "pickle")
