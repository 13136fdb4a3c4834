"""Check a composed config before anything runs: each bad value gives one line naming it and what is allowed."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from core.errors import UserError

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def available(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _positive_int(value, key: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{key}={value!r} is not allowed; give an integer >= {minimum}")
    return value


def check_config(cfg: DictConfig) -> None:
    if cfg.precision not in PRECISIONS:
        raise UserError(f"precision={cfg.precision!r} is not supported; allowed: {', '.join(PRECISIONS)}")
    low, high = cfg.limits.min_opset, cfg.limits.max_opset
    if isinstance(cfg.opset, bool) or not isinstance(cfg.opset, int) or not low <= cfg.opset <= high:
        raise UserError(f"opset={cfg.opset!r} is out of range; allowed: {low}..{high}")
    _positive_int(cfg.input.size, "input.size", 8)
    _positive_int(cfg.input.batch, "input.batch")
    _positive_int(cfg.bench.runs, "bench.runs")
    _positive_int(cfg.bench.warmup, "bench.warmup", 0)
    if cfg.bench.threads is not None:
        _positive_int(cfg.bench.threads, "bench.threads")
    weights = cfg.model.get("weights")
    if weights and not Path(weights).is_file():
        raise UserError(f"model.weights={weights!r}: no such file")
    images = cfg.input.images
    if images and not Path(images).is_dir():
        raise UserError(f"input.images={images!r} is not a directory; give a folder of .jpg/.png images")
    if cfg.precision not in cfg.validate.tolerances:
        raise UserError(f"validate.tolerances has no entry for precision={cfg.precision!r}")
