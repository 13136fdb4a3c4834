"""Model factory: builds a PyTorch model from its config with a fixed seed (no weights can be downloaded here)."""
from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

from core.errors import UserError, first_line


class TinyCNN(nn.Module):
    """conv-bn-relu x2, global pool, linear: enough structure to exercise export, fusing and layouts."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        )
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


class TinyHead(nn.Module):
    """A head that reshapes, transposes and concatenates: where NCHW -> NHWC conversions go wrong.

    Outputs: tokens [N, H*W + 1, 6] (a conv map flattened to rows, plus a pooled row) and the map itself
    [N, 6, H, W] (4-D: a converter that leaves it NHWC must be undone by the runtime adapter).
    """

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.proj = nn.Conv2d(8, 6, 1)
        self.pooled = nn.Linear(8, 6)

    def forward(self, x):
        features = self.stem(x)
        fmap = self.proj(features)
        tokens = fmap.reshape(fmap.shape[0], fmap.shape[1], -1).transpose(1, 2)
        pooled = self.pooled(features.mean(dim=(2, 3))).unsqueeze(1)
        return torch.cat([tokens, pooled], dim=1), fmap


BUILTIN = {"tiny_cnn": TinyCNN, "tiny_head": TinyHead}


def build_model(cfg: dict, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    name, source = cfg["name"], cfg.get("source", "torchvision")
    if source == "ultralytics":  # AGPL: its module (the only importer of ultralytics) loads only when asked for
        return importlib.import_module("converters.ultralytics_models").build(cfg, seed)
    if source == "builtin":
        model = BUILTIN[name]()
    elif source == "torchvision":
        import torchvision

        try:
            model = torchvision.models.get_model(name, weights=None)
        except ValueError as error:
            known = ", ".join(sorted(torchvision.models.list_models(module=torchvision.models)))
            raise UserError(f"model.name={name!r} is not a torchvision classifier; known: {known}") from error
    else:
        raise UserError(f"model.source={source!r} is not known; allowed: builtin, torchvision, ultralytics")
    if cfg.get("weights"):
        load_weights(model, Path(cfg["weights"]))
    else:
        calibrate_batchnorm(model, photo_batch(cfg))
    return model.eval()


def load_weights(model: nn.Module, path: Path) -> None:
    if not path.is_file():
        raise UserError(f"model.weights={str(path)!r}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated or not a torch file: torch raises several types
        raise UserError(f"model.weights={str(path)!r} is not a readable state dict: {error}") from error
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        first = first_line(error)
        raise UserError(f"model.weights={str(path)!r} does not fit this architecture: {first}") from error


def calibrate_batchnorm(net: nn.Module, batch: torch.Tensor) -> None:
    """Random init shrinks the signal layer by layer: by the head the output hardly depends on the image
    (mobilenet_v3_small's logits had a std of 2e-3) and parity would compare near-constants. Set each
    BatchNorm's running stats to its batch statistics on real photos, so that in eval mode every layer sees
    unit-scale activations, as in a trained network (data-dependent init, as in LSUV)."""
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: after one batch the running stats are that batch's
    net.train()
    with torch.no_grad():
        net(batch)
    net.eval()


def photo_batch(cfg: dict) -> torch.Tensor:
    """The packaged photos, preprocessed as the model's own inputs are (independent of the run's images)."""
    from core.images import load_rgb, packaged_image_paths
    from core.prepost import Processing, preprocess

    proc = Processing.from_config({**cfg.get("preprocess", {}), "task": cfg.get("task", "classification"),
                                   "size": cfg["size"]})
    return torch.from_numpy(preprocess([load_rgb(p) for p in packaged_image_paths()], proc))
