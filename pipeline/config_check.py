"""Check a composed config before anything runs: each bad value gives one line naming it and what is allowed."""
from __future__ import annotations

import tempfile
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from bench.selection import check_spec
from bench.settings import check_bench
from core.errors import UserError

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def available(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _positive_int(value, key: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{key}={value!r} is not allowed; give an integer >= {minimum}")
    return value


FILE_SOURCES = {"onnx_file": "onnx", "torch_file": "torch"}


def source_format(cfg: DictConfig) -> str:
    return FILE_SOURCES.get(cfg.model.source, "torch")


def check_model_file(cfg: DictConfig) -> None:
    """A graph started from a file: the file must exist; an ONNX file's static input side sets the size."""
    if cfg.model.source not in FILE_SOURCES:
        return
    if OmegaConf.is_missing(cfg.model, "path") or not cfg.model.path:
        raise UserError(f"model={cfg.model.name} needs model.path=FILE (the file to start the graph from)")
    if not Path(cfg.model.path).is_file():
        raise UserError(f"model.path={cfg.model.path!r}: no such file")
    if cfg.model.source == "onnx_file" and cfg.model.size is None:
        cfg.model.size = onnx_input_side(cfg.model.path)


def onnx_input_side(path: str) -> int:
    import onnx

    try:
        graph = onnx.load(path, load_external_data=False).graph
    except Exception as error:
        raise UserError(f"model.path={path!r} is not a valid ONNX file: {type(error).__name__}") from error
    inits = {i.name for i in graph.initializer}
    inputs = [v for v in graph.input if v.name not in inits]
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim] if inputs else []
    if len(dims) != 4 or dims[2] != dims[3] or dims[2] <= 0:
        raise UserError(f"model.path={path!r}: input shape {dims} is not a square NCHW image; set input.size")
    return dims[2]


def ensure_writable(folder: str, key: str) -> None:
    """Create the folder if needed and prove a file can be written there, or say which setting is wrong."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UserError(f"{key}={folder!r} is not writable: {error.strerror or error}") from error


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
    check_bench(cfg.bench)
    weights = cfg.model.get("weights")
    if weights and not Path(weights).is_file():
        raise UserError(f"model.weights={weights!r}: no such file")
    images = cfg.input.images
    if images and not Path(images).is_dir():
        raise UserError(f"input.images={images!r} is not a directory; give a folder of .jpg/.png images")
    if cfg.cache.enabled:
        ensure_writable(cfg.cache.dir, "cache.dir")
    from core.prepost import TASKS  # here, not at start-up: it loads numpy

    if cfg.model.get("task") not in TASKS:
        raise UserError(f"model.task={cfg.model.get('task')!r} has no pre/postprocess; allowed: {', '.join(TASKS)}")
    if cfg.precision not in cfg.validate.tolerances:
        raise UserError(f"validate.tolerances has no entry for precision={cfg.precision!r}")
    if cfg.get("select") is not None:  # before any conversion: a typo in a constraint costs nothing
        check_spec(OmegaConf.to_container(cfg.select, resolve=True))
