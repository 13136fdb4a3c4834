"""torchvision classifiers by name (`model.name=resnet18`, any of torchvision.models.list_models()), random
init with the run's seed (no hub here)."""
from __future__ import annotations

from torch import nn

from core.errors import UserError
from models.weights import finish


def build(cfg: dict, seed: int) -> nn.Module:
    import torchvision

    name = cfg["name"]
    try:
        model = torchvision.models.get_model(name, weights=None)
    except ValueError as error:
        known = ", ".join(sorted(torchvision.models.list_models(module=torchvision.models)))
        raise UserError(f"model.name={name!r} is not a torchvision classifier; known: {known}") from error
    return finish(model, cfg)
