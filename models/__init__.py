"""Model factories: build a PyTorch model from its config (`model.source`) with a fixed seed; no weights can be
downloaded here, `model.weights` loads a user's own. Each source's module is imported only when it is asked
for (ultralytics is AGPL: only models/ultralytics.py imports it)."""
from __future__ import annotations

import importlib

from core.errors import UserError

SOURCES = {"builtin": "models.builtin", "torchvision": "models.torchvision", "ultralytics": "models.ultralytics",
           "transformers": "models.transformers"}


def build_model(cfg: dict, seed: int):
    """The eval-mode nn.Module that `cfg` (the model config) describes."""
    import torch

    torch.manual_seed(seed)
    source = cfg.get("source", "torchvision")
    if source not in SOURCES:
        raise UserError(f"model.source={source!r} is not known; allowed: {', '.join(SOURCES)}")
    return importlib.import_module(SOURCES[source]).build(cfg, seed)
