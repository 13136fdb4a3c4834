"""What every factory does after building the architecture: load the user's weights, or, for a random init,
calibrate BatchNorm on real photos so that outputs still depend on the image."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from core.errors import UserError, first_line


def finish(model: nn.Module, cfg: dict) -> nn.Module:
    """The model with `model.weights` loaded, or with BatchNorm calibrated when there are none; eval mode."""
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
