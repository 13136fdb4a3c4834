"""What a run feeds its models: the model file's own facts, the input set (real photos, preprocessed once, for
parity and benchmarks) and the int8 calibration set (the same for every backend)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from core.errors import UserError
from core.images import image_paths, images_digest, load_images
from core.prepost import Processing, preprocess
from pipeline.config import FILE_SOURCES
from pipeline.results import InputSet


def processing_config(cfg: DictConfig) -> dict:
    """What pre/postprocess do for this model (core.prepost.Processing.from_config), recorded in results.json."""
    return {**OmegaConf.to_container(cfg.model.preprocess, resolve=True), "task": cfg.model.task,
            "size": cfg.input.size,
            "postprocess": OmegaConf.to_container(cfg.model.postprocess, resolve=True)
            if cfg.model.get("postprocess") else {}}


def prepare_model_file(cfg: DictConfig) -> None:
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


def absolutize_paths(cfg: DictConfig) -> None:
    """Children run from the repo root: a user's relative paths must mean what they meant in their cwd."""
    for node, key in ((cfg.model, "weights"), (cfg.model, "path"), (cfg.input, "images"),
                      (cfg.calibration, "images")):
        if not OmegaConf.is_missing(node, key) and node.get(key):
            node[key] = str(Path(node[key]).expanduser().resolve())


@dataclass
class Inputs:
    """The preprocessed input set (canonical NCHW float32) on disk, and what it was made from."""

    path: Path  # inputs.npz
    sha256: str  # of the batch's shape and bytes: part of every memoised output's key
    record: InputSet
    bench_images: list[str]  # one batch of input.batch images: what the benchmark times


def prepare_inputs(cfg: DictConfig, run_dir: Path) -> Inputs:
    """Parity runs on every image of the input set (cycled up to a whole number of batches); the benchmark
    times one batch of input.batch images."""
    count = cfg.input.count or len(image_paths(cfg.input.images))
    count = -(-max(count, cfg.input.batch) // cfg.input.batch) * cfg.input.batch
    images, paths = load_images(cfg.input.images, count)
    batch = preprocess(images, Processing.from_config(processing_config(cfg)))
    path = run_dir / "inputs.npz"
    np.savez(path, input=batch)
    sha = hashlib.sha256(repr(batch.shape).encode() + batch.tobytes()).hexdigest()
    bench_images = paths[: cfg.input.batch]
    record = InputSet(images=paths, count=len(paths), sha256=images_digest(paths), bench_images=bench_images,
                      batch=cfg.input.batch, size=cfg.input.size)
    return Inputs(path, sha, record, bench_images)


def prepare_calibration(cfg: DictConfig, run_dir: Path) -> tuple[Path, dict]:
    """The same preprocessed images for every backend's int8 calibration (.npy: byte-stable, so cacheable)."""
    images, paths = load_images(cfg.calibration.images, cfg.calibration.count, cycle=False)
    path = run_dir / "calibration.npy"
    np.save(path, preprocess(images, Processing.from_config(processing_config(cfg))))
    return path, {"count": len(paths), "sha256": images_digest(paths), "images": paths}
