"""Which inputs a model has and how each is fed: its name, the shape it runs at (the file's dynamic dimensions
bound from `input.shapes`, `input.batch` and `input.size`), its batch axis, its dtype, and whether photos or
arrays fill it; and the state a stateful model carries between calls (model.state).

Every mistake is one line naming the input, the dimension, the model's value and the given one.
"""
from __future__ import annotations

from pathlib import Path

from converters.step_io.onnx_io import tensor_specs
from core.artifact import DTYPES, TensorSpec, image_layout
from core.errors import UserError
from core.feeds import Feed
from pipeline.schema import Config, Model

IMAGE_INPUT = {"name": "input", "shape": ["batch", 3, "height", "width"], "dtype": "float32"}  # model.inputs' default


def declared_inputs(model: Model) -> list[TensorSpec]:
    """The model's inputs as it declares them: an ONNX file's graph inputs, else `model.inputs` (default: one
    image input named `input`). A dimension that is not a positive int is dynamic (-1)."""
    if model.source == "onnx_file":
        return onnx_inputs(model.path)
    declared = model.inputs or [IMAGE_INPUT]
    return [TensorSpec(d["name"], [_dim(v) for v in d["shape"]], dtype=d.get("dtype", "float32"),
                       layout=image_layout([_dim(v) for v in d["shape"]], d.get("dtype", "float32")))
            for d in declared]


def dim_names(model: Model) -> dict[str, list[str | None]]:
    """Each declared input's dimension names, None where a dimension has none: an ONNX file's dim_params, the
    words of model.inputs (batch, height, ...). An input's batch axis is found by them (batch_axes)."""
    if model.source == "onnx_file":
        graph = _onnx(model.path).graph
        return {v.name: [d.dim_param or None for d in v.type.tensor_type.shape.dim] for v in graph.input}
    declared = model.inputs or [IMAGE_INPUT]
    return {d["name"]: [v if isinstance(v, str) else None for v in d["shape"]] for d in declared}


def _onnx(path: str):
    import onnx

    try:
        return onnx.load(path, load_external_data=False)
    except Exception as error:
        raise UserError(f"model.path={path!r} is not a valid ONNX file: {type(error).__name__}") from error


def onnx_inputs(path: str) -> list[TensorSpec]:
    specs = tensor_specs(_onnx(path))[0]
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


def bind(config: Config, declared: list[TensorSpec], names: dict[str, list[str | None]] | None = None) -> list[Feed]:
    """The feeds the run uses: every declared input with all its dimensions known, and its batch axis (names: the
    inputs' dimension names, dim_names)."""
    given, model, batch = config.input.shapes or {}, config.model, config.input.batch
    _known(given, declared, "input.shapes")
    axes = batch_axes(config.input.batch_axes or {}, declared, names or {})
    size = _size(config.input.size)
    feeds, unbound = [], []
    for spec in declared:
        axis = axes[spec.name]
        shape = _given(spec, given[spec.name]) if spec.name in given else _filled(spec, batch, size, axis)
        if any(d < 1 for d in shape):
            unbound.append(spec)
            continue
        layout = spec.layout or image_layout(shape, spec.dtype)
        feeds.append(Feed(spec.name, "image" if layout else "data", shape, spec.dtype, layout, axis))
    if unbound:
        where = f"model.path={model.path!r}" if model.source == "onnx_file" else f"model={model.name}"
        listed = ", ".join(f"{s.name} {shown(s.shape)}" for s in unbound)
        dims = {s.name: ",".join(_placeholder(s, axis, axes[s.name], batch) for axis in range(len(s.shape)))
                for s in unbound}
        example = ",".join(f"{name}:[{shape}]" for name, shape in dims.items())
        raise UserError(f"{where} has dynamic dimensions: {listed}; bind them with 'input.shapes={{{example}}}'")
    _check_named_dims(feeds, names or {})
    _check_state_inputs(model.state or {}, feeds)
    return feeds


def choose_channels(model: Model, feeds: list[Feed]) -> None:
    """A 1-channel image input takes the photos' luma: model.preprocess.channels defaults to GRAY for it. A channel
    order that does not fit the model's image inputs is one line."""
    images = [f for f in feeds if f.kind == "image"]
    if not images:
        return
    counts = {f.shape[3] if f.layout == "NHWC" else f.shape[1] for f in images}
    given = model.preprocess.get("channels")
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
        model.preprocess = {**model.preprocess, "channels": "GRAY"}


def _check_named_dims(feeds: list[Feed], names: dict[str, list[str | None]]) -> None:
    """A dimension name the model gives several inputs (the batch of an audio chunk and of its recurrent state)
    is one size: inputs fed otherwise would stop the reference with a runtime's error."""
    seen: dict[str, tuple[Feed, int]] = {}
    for feed in feeds:
        for axis, name in enumerate(names.get(feed.name) or []):
            if name is None or axis >= len(feed.shape):
                continue
            first, first_axis = seen.setdefault(name, (feed, axis))
            if first.shape[first_axis] != feed.shape[axis]:
                raise UserError(f"input {feed.name!r} is fed {feed.shape}, but the model expects its dimension {axis} "
                                f"({name!r}) to be {first.shape[first_axis]}, as dimension {first_axis} of input "
                                f"{first.name!r} is fed; give both the same size in input.shapes")


def _known(given: dict, declared: list[TensorSpec], key: str) -> None:
    names = [spec.name for spec in declared]
    for name in given:
        if name not in names:
            raise UserError(f"{key}.{name}: the model has no input {name!r}; its inputs: {', '.join(names)}")


def batch_axes(given: dict, declared: list[TensorSpec], names: dict[str, list[str | None]]) -> dict:
    """input name -> its batch axis, or None. input.batch_axes first; then axis 0 of an image; then, for any other
    input, the axis named like the batch (the name of axis 0 of the first image input, else of the first input
    whose axis 0 is dynamic: a recurrent state [2, batch, 128] shares it on axis 1); then a dynamic axis 0 that
    has no name or that name. Otherwise none: a rank-0 input, a static one nothing names."""
    _known(given, declared, "input.batch_axes")
    anchor = next((s for s in declared if s.is_image()), None) or next(
        (s for s in declared if s.shape and s.shape[0] < 1), None)
    batch_name = (names.get(anchor.name) or [None])[0] if anchor else None
    axes = {}
    for spec in declared:
        dims = names.get(spec.name) or [None] * len(spec.shape)
        if spec.name in given:
            axes[spec.name] = _given_axis(spec, given[spec.name])
        elif not spec.shape:
            axes[spec.name] = None
        elif spec.is_image():
            axes[spec.name] = 0
        elif batch_name is not None and batch_name in dims:
            axes[spec.name] = dims.index(batch_name)
        elif spec.shape[0] < 1 and dims[0] in (None, batch_name):
            axes[spec.name] = 0
        else:
            axes[spec.name] = None
    return axes


def _given_axis(spec: TensorSpec, axis) -> int | None:
    rank = len(spec.shape)
    if axis is None or (isinstance(axis, int) and not isinstance(axis, bool) and 0 <= axis < rank):
        return axis
    allowed = f"0..{rank - 1} or null (no batch axis)" if rank else "null: a rank-0 input has no batch axis"
    raise UserError(f"input.batch_axes.{spec.name}={axis!r} is out of range for input {spec.name!r} of rank {rank} "
                    f"{shown(spec.shape)}; give {allowed}")


def _placeholder(spec: TensorSpec, axis: int, batch_axis: int | None, batch: int) -> str:
    """A dimension as the override to write would hold it: its value, the batch, or a name to replace."""
    if spec.shape[axis] > 0:
        return str(spec.shape[axis])
    if axis == batch_axis:
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


def _filled(spec: TensorSpec, batch: int, size: tuple[int, int] | None, batch_axis: int | None) -> list[int]:
    """The declared shape with the batch axis and an image's height and width filled in where dynamic."""
    shape = list(spec.shape)
    if batch_axis is not None and shape[batch_axis] < 1:
        shape[batch_axis] = batch
    if spec.layout and size is not None:
        axes = (2, 3) if spec.layout == "NCHW" else (1, 2)
        for axis, value in zip(axes, size, strict=True):
            if shape[axis] < 1:
                shape[axis] = value
            elif spec.shape[axis] != value:
                raise UserError(f"input.size={list(size)} does not fit input {spec.name!r}: the model fixes its "
                                f"height x width at {shape[axes[0]]} x {shape[axes[1]]}")
    return shape


def check_model_file(model: Model) -> None:
    """A graph started from a file: the file must be there."""
    if model.source not in ("onnx_file", "torch_file"):
        return
    if not model.path:
        raise UserError(f"model={model.name} needs model.path=FILE (the file to start the graph from)")
    if not Path(model.path).is_file():
        raise UserError(f"model.path={model.path!r}: no such file")


def _check_state_inputs(state: dict[str, str], feeds: list[Feed]) -> None:
    """model.state names inputs that take arrays (checked before anything runs)."""
    by_name = {feed.name: feed for feed in feeds}
    for output, name in state.items():
        if name not in by_name:
            raise UserError(f"model.state.{output}={name}: the model has no input {name!r}; its inputs: "
                            f"{', '.join(by_name)}")
        if by_name[name].kind == "image":
            raise UserError(f"model.state.{output}={name}: input {name!r} is an image (photos fill it); a state "
                            "input takes what the model returned")


def check_state(state: dict[str, str], feeds: list[Feed], outputs: list[TensorSpec]) -> None:
    """model.state (output -> the input it feeds) against the reference's outputs (known once the source step made
    it): each state output exists and has the shape and dtype of the input it feeds."""
    by_name = {spec.name: spec for spec in outputs}
    fed = {feed.name: feed for feed in feeds}
    for output, name in state.items():
        if output not in by_name:
            raise UserError(f"model.state.{output}: the model has no output {output!r}; its outputs: "
                            f"{', '.join(by_name)}")
        spec, feed = by_name[output], fed[name]
        fits = len(spec.shape) == len(feed.shape) and all(d < 1 or d == f for d, f in zip(spec.shape, feed.shape,
                                                                                           strict=True))
        if not fits or spec.dtype != feed.dtype:
            raise UserError(f"model.state.{output}={name}: output {output!r} is {spec.dtype} {shown(spec.shape)}, "
                            f"input {name!r} is fed {feed.dtype} {feed.shape}; a state output must fit its input")

