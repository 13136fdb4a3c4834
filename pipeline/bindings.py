"""Which inputs a model has and how each is fed: its name, the shape it runs at (the file's dynamic dimensions
bound from `input.shapes`, `input.batch` and `input.size`), its dtype, and whether photos or arrays fill it.

Every mistake is one line naming the input, the dimension, the model's value and the given one.
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from converters.onnx_io import tensor_specs
from core.artifact import DTYPES, TensorSpec, image_layout
from core.errors import UserError
from core.feeds import Feed


def declared_inputs(cfg: DictConfig) -> list[TensorSpec]:
    """The model's inputs as it declares them: an ONNX file's graph inputs, else `model.inputs` (default: one
    image input named `input`). A dimension that is not a positive int is dynamic (-1)."""
    if cfg.model.source == "onnx_file":
        return onnx_inputs(cfg.model.path)
    declared = OmegaConf.to_container(cfg.model.inputs, resolve=True) if cfg.model.get("inputs") else \
        [{"name": "input", "shape": ["batch", 3, "height", "width"], "dtype": "float32"}]
    return [TensorSpec(d["name"], [_dim(v) for v in d["shape"]], dtype=d.get("dtype", "float32"),
                       layout=image_layout([_dim(v) for v in d["shape"]], d.get("dtype", "float32")))
            for d in declared]


def onnx_inputs(path: str) -> list[TensorSpec]:
    import onnx

    try:
        specs = tensor_specs(onnx.load(path, load_external_data=False))[0]
    except Exception as error:
        raise UserError(f"model.path={path!r} is not a valid ONNX file: {type(error).__name__}") from error
    for spec in specs:
        if spec.dtype not in DTYPES:
            raise UserError(f"model.path={path!r}: input {spec.name!r} is {spec.dtype}; convgraph feeds "
                            f"{', '.join(DTYPES)}")
    if not specs:
        raise UserError(f"model.path={path!r} has no inputs")
    return specs


def _dim(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else -1


def shown(dims: list[int]) -> str:
    return "[" + ", ".join("?" if d < 0 else str(d) for d in dims) + "]"


def bind(cfg: DictConfig, declared: list[TensorSpec]) -> list[Feed]:
    """The feeds the run uses: every declared input with all its dimensions known."""
    given = OmegaConf.to_container(cfg.input.shapes, resolve=True) if cfg.input.get("shapes") else {}
    names = [spec.name for spec in declared]
    for name in given:
        if name not in names:
            raise UserError(f"input.shapes.{name}: the model has no input {name!r}; its inputs: {', '.join(names)}")
    size = _size(cfg.input.get("size"))
    feeds, unbound = [], []
    for spec in declared:
        shape = _given(spec, given[spec.name]) if spec.name in given else _filled(spec, cfg.input.batch, size)
        if any(d < 1 for d in shape):
            unbound.append(spec)
            continue
        layout = spec.layout or image_layout(shape, spec.dtype)
        feeds.append(Feed(spec.name, "image" if layout else "data", shape, spec.dtype, layout))
    if unbound:
        where = f"model.path={cfg.model.path!r}" if cfg.model.source == "onnx_file" else f"model={cfg.model.name}"
        listed = ", ".join(f"{s.name} {shown(s.shape)}" for s in unbound)
        dims = {s.name: ",".join(_placeholder(s, axis, cfg.input.batch) for axis in range(len(s.shape)))
                for s in unbound}
        example = ",".join(f"{name}:[{shape}]" for name, shape in dims.items())
        raise UserError(f"{where} has dynamic dimensions: {listed}; bind them with 'input.shapes={{{example}}}'")
    return feeds


def choose_channels(cfg: DictConfig, feeds: list[Feed]) -> None:
    """A 1-channel image input takes the photos' luma: model.preprocess.channels defaults to GRAY for it. A channel
    order that does not fit the model's image inputs is one line."""
    images = [f for f in feeds if f.kind == "image"]
    if not images:
        return
    counts = {f.shape[3] if f.layout == "NHWC" else f.shape[1] for f in images}
    given = cfg.model.get("preprocess", {}).get("channels")
    listed = ", ".join(f"{f.name} {shown(f.shape)}" for f in images)
    if len(counts) > 1:
        raise UserError(f"the model's image inputs take 1 and 3 channels ({listed}); convgraph feeds every image "
                        "input the same photos in one channel order")
    if counts == {1} and given not in (None, "GRAY"):
        raise UserError(f"model.preprocess.channels={given!r} does not fit input {listed}: 1 channel; allowed: GRAY")
    if counts == {3} and given == "GRAY":
        raise UserError(f"model.preprocess.channels='GRAY' does not fit input {listed}: 3 channels; allowed: RGB, "
                        "BGR")
    if counts == {1} and given is None:
        with open_dict(cfg.model):
            cfg.model.preprocess = {**OmegaConf.to_container(cfg.model.get("preprocess") or {}), "channels": "GRAY"}


def _placeholder(spec: TensorSpec, axis: int, batch: int) -> str:
    """A dimension as the override to write would hold it: its value, the batch, or a name to replace."""
    if spec.shape[axis] > 0:
        return str(spec.shape[axis])
    if axis == 0:
        return str(batch)
    spatial = {"NCHW": {2: "H", 3: "W"}, "NHWC": {1: "H", 2: "W"}}.get(spec.layout, {})
    return spatial.get(axis, f"D{axis}")


def _size(value) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


def _given(spec: TensorSpec, shape) -> list[int]:
    key = f"input.shapes.{spec.name}"
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise UserError(f"{key}={shape!r} is not allowed; give a list of sizes, e.g. {shown(spec.shape)}")
    if len(shape) != len(spec.shape):
        raise UserError(f"{key}={shape}: rank {len(shape)}, but input {spec.name!r} has rank {len(spec.shape)} "
                        f"{shown(spec.shape)}")
    for axis, (ours, theirs) in enumerate(zip(spec.shape, shape, strict=True)):
        if theirs < 1:
            raise UserError(f"{key}={shape}: dimension {axis} is {theirs}; give sizes >= 1")
        if ours > 0 and theirs != ours:
            raise UserError(f"{key}={shape}: dimension {axis} of input {spec.name!r} is {ours} in the model, "
                            f"{theirs} given")
    return list(shape)


def _filled(spec: TensorSpec, batch: int, size: tuple[int, int] | None) -> list[int]:
    """The declared shape with the batch axis and an image's height and width filled in where dynamic."""
    shape = list(spec.shape)
    if shape and shape[0] < 1:
        shape[0] = batch
    if spec.layout and size is not None:
        axes = (2, 3) if spec.layout == "NCHW" else (1, 2)
        for axis, value in zip(axes, size, strict=True):
            if shape[axis] < 1:
                shape[axis] = value
            elif spec.shape[axis] != value:
                raise UserError(f"input.size={list(size)} does not fit input {spec.name!r}: the model fixes its "
                                f"height x width at {shape[axes[0]]} x {shape[axes[1]]}")
    return shape


def check_model_file(cfg: DictConfig) -> None:
    """A graph started from a file: the file must be there."""
    if cfg.model.source not in ("onnx_file", "torch_file"):
        return
    if OmegaConf.is_missing(cfg.model, "path") or not cfg.model.path:
        raise UserError(f"model={cfg.model.name} needs model.path=FILE (the file to start the graph from)")
    if not Path(cfg.model.path).is_file():
        raise UserError(f"model.path={cfg.model.path!r}: no such file")
