"""What a run feeds its models: the input set (photos for image inputs, arrays from `input.data` or generated
from `input.ranges` for the others), written once as inputs.npz for parity and benchmarks, and the int8
calibration set (the same for every backend). Both hold one array per input, [N, *shape fed]: one sample per
call of the model (core/samples.py); an image input fed at batch B takes B photos per sample."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import audio_windows
from core.errors import UserError
from core.feeds import Feed, call_batch, check_data, image_feeds, make_inputs
from core.images import images_digest, load_rgb
from core.prepost import Letterbox, Processing
from core.samples import call, samples_in
from pipeline.arrays import store
from pipeline.results import InputSet
from pipeline.schema import Config, Model
from pipeline.splits import SampleSplit
from truth.labelled_set import LabelledSet

DEFAULT_SAMPLES = 8  # samples (calls) of a model without image inputs, when neither input.count nor input.data says
DEFAULT_CALIBRATION = 20  # calibration samples of a model without image inputs, when calibration.count does not say
FLOAT_RANGE = (0.0, 1.0)  # a float input without a range: uniform in [0, 1)
DEFAULT_SAMPLE_RATE = 16000  # Hz, of a waveform input when model.sample_rate does not say (core/audio.py resamples)


def processing_config(model: Model, feeds: list[Feed]) -> dict:
    """What pre/postprocess do for this model (core.prepost.Processing.from_config), recorded in results.json;
    the size is the first image input's (each image input is resized to its own when fed)."""
    images = image_feeds(feeds)
    return {**model.preprocess, "task": model.task, "size": list(images[0].size) if images else None,
            "postprocess": dict(model.postprocess or {})}


@dataclass
class PreparedInputs:
    """The input set on disk (inputs.npz: one array per input, [N, *shape fed]) and what it came from."""

    path: Path
    sha256: str  # of every array's name, shape and bytes: part of every memoised output's key
    record: InputSet
    bench_images: list[str]  # the photos of the first sample (one call): what the benchmark times
    placement: list[Letterbox] | None = None  # how each image was placed in the first image input (postprocess)
    truth: LabelledSet | None = None  # the truth of the first len(truth) images


def prepare_inputs(config: Config, feeds: list[Feed], run_dir: Path, split: SampleSplit,
                   store_dir: Path | None = None) -> PreparedInputs:
    """Every judged image (cycled up to whole calls) through the same preprocessing the benchmark times, with the
    data inputs' values for each call; the benchmark times the first call. `store_dir`: where the arrays live by
    content."""
    data = user_data(config, feeds)
    audio = audio_calls(config, feeds)[0]
    per_call = images_per_call(feeds)
    if per_call:
        wanted = len(split.judged) if split.truth is not None else config.input.count or len(split.judged)
        count = -(-wanted // per_call)
    else:
        given = data if data is not None else audio
        count = config.input.count or (samples_in(given) if given is not None else DEFAULT_SAMPLES)
    paths = [split.judged[i % len(split.judged)] for i in range(count * per_call)]
    data = cycled(data, count) if data is not None else generated(config, feeds, count, seed=config.seed)
    data.update(cycled(audio, count) if audio is not None else {})
    proc = Processing.from_config(processing_config(config.model, feeds))
    arrays, placement = stacked_calls(feeds, proc, [load_rgb(p) for p in paths], data, count)
    path = run_dir / "inputs.npz"
    sha = store(arrays, path, store_dir)
    record = InputSet(images=paths, count=count * call_batch(feeds), samples=count,
                      sha256=images_digest(paths) if paths else None, bench_images=paths[:per_call],
                      batch=call_batch(feeds), size=_size(image_feeds(feeds)),
                      set="labels" if config.input.labels else config.input.set,
                      tensors=[_describe(config, feed, set(audio or ())) for feed in feeds], data=config.input.data,
                      steps=config.input.steps if config.model.state else None)
    return PreparedInputs(path, sha, record, paths[:per_call], placement, split.truth if per_call else None)


def images_per_call(feeds: list[Feed]) -> int:
    """Photos one call takes (its image inputs' batch: each image input gets the same photos); 0 without images."""
    batches = {feed.name: feed.shape[0] for feed in image_feeds(feeds)}
    if len(set(batches.values())) > 1:
        raise UserError("the image inputs are fed different batches (" + ", ".join(
            f"{name} {batch}" for name, batch in batches.items()) + "): they take the same photos; give them one batch")
    return next(iter(batches.values()), 0)


def cycled(data: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
    """`count` samples of each array, from the first on, cycled."""
    return {name: array[np.arange(count) % len(array)] for name, array in data.items()}


def stacked_calls(feeds: list[Feed], proc: Processing, images: list[np.ndarray], data: dict[str, np.ndarray],
                  count: int) -> tuple[dict[str, np.ndarray], list[Letterbox] | None]:
    """`count` calls' inputs (call i: the i-th run of len(images) / count photos, sample i of `data`) as one array
    per input, [count, *shape fed]; and every photo's placement in the first image input, in order."""
    per_call = len(images) // count
    made = [make_inputs(feeds, proc, images[i * per_call : (i + 1) * per_call], call(data, i)) for i in range(count)]
    arrays = {feed.name: np.stack([inputs[feed.name] for inputs, _ in made]) for feed in feeds}
    placement = [placed for _, meta in made for placed in meta or []]
    return arrays, placement or None


def _size(images: list[Feed]) -> int | list[int] | None:
    """The first image input's side (square) or [height, width]."""
    if not images:
        return None
    height, width = images[0].size
    return height if height == width else [height, width]


def _describe(config: Config, feed: Feed, audio: set[str]) -> dict:
    """What results.json says of one input: name, shape (one call's), batch axis, dtype, where its values come
    from."""
    source = "photos" if feed.kind == "image" else "input.audio" if feed.name in audio else (
        "input.data" if config.input.data else "zeros" if feed.name in state_inputs(config.model) else "generated")
    described = {"name": feed.name, "shape": feed.shape, "batch_axis": feed.batch_axis, "dtype": feed.dtype,
                 "kind": feed.kind, "source": source}
    if feed.layout:
        described["layout"] = feed.layout
    if source == "generated":
        described["range"] = list(value_range(config, feed))
    return described


def state_inputs(model: Model) -> set[str]:
    """The inputs a stateful model's state outputs feed (model.state): they start from zeros unless input.data."""
    return set((model.state or {}).values())


def user_data(config: Config, feeds: list[Feed]) -> dict[str, np.ndarray] | None:
    """input.data: one array per data input, [N, *shape fed] (one sample per call), checked against the model."""
    wanted, given = [f for f in feeds if f.kind == "data"], config.input.data
    if not given or not wanted:
        return None
    where = f"input.data={given!r}"
    if not Path(given).is_file():
        raise UserError(f"{where}: no such file")
    try:
        with np.load(given) as archive:
            data = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as error:
        raise UserError(f"{where} is not a readable .npz: {error}") from error
    problems = check_data(feeds, data, where)
    if problems:
        raise UserError(problems[0])
    lengths = {len(data[f.name]) for f in wanted}
    if len(lengths) > 1 or 0 in lengths:
        raise UserError(f"{where}: the arrays hold {sorted(lengths)} samples; give every input the same number, >= 1")
    return {f.name: data[f.name] for f in wanted}


def audio_calls(config: Config, feeds: list[Feed]) -> tuple[dict | None, dict | None]:
    """input.audio's windows for the waveform input (the one float [batch, samples] data input that is not a
    state), as (judged calls, calibration calls): calibration.holdout of the calls, the last ones, are held apart
    to calibrate on and never judged. (None, None) without input.audio."""
    if not config.input.audio:
        return None, None
    state = state_inputs(config.model)
    waves = [f for f in feeds if f.kind == "data" and f.dtype.startswith("float") and len(f.shape) == 2
             and f.name not in state]
    if len(waves) != 1:
        listed = ", ".join(f"{f.name} {f.dtype} {f.shape}" for f in feeds)
        raise UserError(f"input.audio={config.input.audio!r} feeds one float [batch, samples] input; the model's "
                        f"inputs are {listed}")
    wave = waves[0]
    rate = config.model.sample_rate or DEFAULT_SAMPLE_RATE
    calls = audio_windows(config.input.audio, wave.shape, rate, wave.dtype)
    held = min(len(calls) - 1, round(len(calls) * config.calibration.holdout))
    judged, apart = calls[: len(calls) - held], calls[len(calls) - held :] if held else calls
    return {wave.name: judged}, {wave.name: apart}


def value_range(config: Config, feed: Feed) -> tuple:
    """[low, high] (inclusive for integers) of a generated input: input.ranges, then the model's own ranges."""
    ranges = {**(config.model.ranges or {}), **(config.input.ranges or {})}
    if feed.name in ranges:
        return tuple(ranges[feed.name])
    if feed.dtype == "bool":
        return (1, 1)  # a mask: all true
    if feed.dtype.startswith("float"):
        return FLOAT_RANGE
    raise UserError(f"input {feed.name!r} ({feed.dtype} {feed.shape}) needs values: give "
                    f"'input.ranges={{{feed.name}:[LOW,HIGH]}}' (e.g. token ids: [0, vocabulary size - 1]) "
                    "or input.data=FILE.npz")


def generated(config: Config, feeds: list[Feed], count: int, seed: int) -> dict[str, np.ndarray]:
    """Reproducible values for the data inputs, `count` samples of each: uniform in their range, from `seed`; a
    state input's initial state: zeros."""
    rng = np.random.default_rng(seed)
    data, state = {}, state_inputs(config.model)
    for feed in (f for f in feeds if f.kind == "data"):
        shape = (count, *feed.shape)
        if feed.name in state:
            data[feed.name] = np.zeros(shape, feed.dtype)
            continue
        low, high = value_range(config, feed)
        if feed.dtype.startswith("float"):
            data[feed.name] = rng.uniform(low, high, shape).astype(feed.dtype)
        else:
            data[feed.name] = rng.integers(int(low), int(high) + 1, shape).astype(feed.dtype)
    return data


def prepare_calibration(config: Config, feeds: list[Feed], run_dir: Path, split: SampleSplit,
                        store_dir: Path | None = None) -> tuple[Path, dict]:
    """The same samples for every backend's int8 calibration (calibration.npz, one array per input, [N, *shape
    fed]: byte-stable, so cacheable): the split's calibration images (cycled to whole calls), none of which the run
    judges, for image inputs; input.data's first samples or generated values (another seed than the parity set's)
    for the others."""
    per_call = images_per_call(feeds)
    count = -(-len(split.calibration) // per_call) if per_call else config.calibration.count or DEFAULT_CALIBRATION
    paths = [split.calibration[i % len(split.calibration)] for i in range(count * per_call)]
    data, audio = user_data(config, feeds), audio_calls(config, feeds)[1]
    count = samples_in(audio) if audio is not None else count
    data = cycled(data, count) if data is not None else generated(config, feeds, count, seed=config.seed + 1)
    data.update(audio or {})
    proc = Processing.from_config(processing_config(config.model, feeds))
    arrays, _ = stacked_calls(feeds, proc, [load_rgb(p) for p in paths], data, count)
    path = run_dir / "calibration.npz"
    sha = store(arrays, path, store_dir)
    return path, {"count": count, "sha256": images_digest(paths) if paths else None, "images": paths,
                  "arrays_sha256": sha, **split.record["calibration"]}
