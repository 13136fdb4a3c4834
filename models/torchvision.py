"""torchvision models by name, random init with the run's seed (no hub here): classifiers (`model.name=resnet18`,
any of torchvision.models.list_models()) and segmentation models (`lraspp_mobilenet_v3_large`, `deeplabv3_...`,
`fcn_...`: torchvision.models.segmentation), whose dict output becomes its `out` tensor alone."""
from __future__ import annotations

from torch import nn

from core.errors import UserError
from models.weights import finish


class SegmentationOutput(nn.Module):
    """torchvision's segmentation models return {"out": [N, classes, H, W], ...}: the map alone."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def build(cfg: dict, seed: int) -> nn.Module:
    import torchvision

    name = cfg["name"]
    segmentation = torchvision.models.list_models(module=torchvision.models.segmentation)
    if cfg.get("task") == "segmentation":
        if name not in segmentation:
            raise UserError(f"model.name={name!r} is not a torchvision segmentation model; known: "
                            f"{', '.join(sorted(segmentation))}")
        model = torchvision.models.get_model(name, weights=None, weights_backbone=None,
                                             num_classes=int(cfg.get("classes") or 21))
        return SegmentationOutput(finish(model, cfg)).eval()
    try:
        model = torchvision.models.get_model(name, weights=None)
    except ValueError as error:
        known = ", ".join(sorted(torchvision.models.list_models(module=torchvision.models)))
        raise UserError(f"model.name={name!r} is not a torchvision classifier; known: {known}") from error
    return finish(model, cfg)
