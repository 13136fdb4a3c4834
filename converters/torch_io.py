"""Load a `torch` artifact, whichever way it was saved: a pickled nn.Module (our source step), TorchScript
(torch.jit.save) or an ExportedProgram (torch.export.save, .pt2). Shared by the export step and the runtime."""
from __future__ import annotations


def load_torch(path: str, loader: str):
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
