"""The config schema: the type and the allowed values of every key of a composed config (pipeline.config checks
a config against it and says each mistake in one line).

Options that belong to one part are declared there and only gathered here: each runtime's `Options`
(`bench.runtime.<name>`, runtimes/<name>.py) and each step's `Options` (`graph.steps.<name>`, converters/<kind>.py).
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    create_model,
    model_validator,
)

import runtimes
from bench.settings import batch_sizes
from core.errors import UserError
from core.prepost import CHANNELS, TASKS
from pipeline.schema_inputs import Calibration, InputConfig, image_size
from pipeline.schema_types import AtLeast, NonNegative, Number, Positive, Strict, custom, options_of

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
Precision = Literal[PRECISIONS]
RuntimeName = Literal[runtimes.NAMES]
Task = Literal[TASKS]


# ---- the parts of the config ---------------------------------------------------------------------------------
class Tolerance(Strict):
    atol: Number | None = None
    rtol: Number | None = None
    cosine: Number | None = None


class TaskCheck(Strict):
    conf: Number
    iou: Number
    max_det: AtLeast(1)
    match_iou: Number
    top_k: AtLeast(1)
    min_agreement: dict[Literal["classification", "detection", "segmentation", "sequence"],
                        dict[Precision, Number | None]]


class Validate(Strict):
    tolerances: dict[Precision, Tolerance]
    task: TaskCheck
    localize: StrictBool
    fail_run_on_mismatch: StrictBool


def _batches(value):
    try:
        batch_sizes(value)
    except UserError as error:
        raise custom(str(error)) from None
    return value


RuntimeOptions = create_model("RuntimeOptions", __config__=ConfigDict(extra="forbid"), **{
    name: (options_of(runtime.options), Field(default_factory=runtime.options))
    for name, runtime in runtimes.REGISTRY.items()})


class Bench(Strict):
    enabled: StrictBool
    warmup: AtLeast(0)
    runs: AtLeast(1)
    threads: AtLeast(1) | None
    batch: Annotated[Any, BeforeValidator(_batches)]
    noisy_cv: Positive | None
    runtime: RuntimeOptions
    timeout_s: Positive
    reuse_in_sweep: StrictBool
    lock_file: str
    profile: StrictBool  # per-node profiles of each latency measurement (runtimes/profiling.py)
    tune: StrictBool  # each artifact's runtime settings searched (bench.settings.tune_candidates), the fastest kept


class Cache(Strict):
    enabled: StrictBool
    dir: str


class Tracking(Strict):
    """+tracking=mlflow (conf/tracking/mlflow.yaml): where report.tracking logs each job."""

    uri: Annotated[str, Field(min_length=1)]
    experiment: Annotated[str, Field(min_length=1)]


class OutputSlice(Strict):
    channels: list[StrictInt] = Field(min_length=2, max_length=2)  # [start, stop) along `axis`
    axis: StrictInt = 1
    tolerances: dict[Precision, Tolerance] | None = None


def _pattern(key: str, pattern: str, what: str):
    """A string of model.package that matches `pattern` (name and version also name a folder of the cache)."""
    def check(value):
        if not (isinstance(value, str) and re.fullmatch(pattern, value)):
            raise custom(f"model.package.{key}={value!r} is not allowed; give {what}")
        return value
    return Annotated[str, BeforeValidator(check)]


def _preprocess(value):
    channels = value.get("channels", "RGB") if isinstance(value, dict) else "RGB"
    if channels not in CHANNELS:
        raise custom(f"model.preprocess.channels={channels!r} is not allowed; allowed: {', '.join(CHANNELS)}")
    for key in ("mean", "std"):
        values = value.get(key) if isinstance(value, dict) else None
        if channels == "GRAY" and isinstance(values, list) and len(values) not in (1, 3):
            raise custom(f"model.preprocess.{key}={values!r} is not allowed with channels GRAY; give one value")
    return value


class Package(Strict):
    """A model file inside a pinned wheel on the package registry, fetched on first use (pipeline.fetch)."""

    name: _pattern("name", r"[A-Za-z0-9][A-Za-z0-9._-]*", "the distribution's name (letters, digits, . _ -)")
    version: _pattern("version", r"[A-Za-z0-9][A-Za-z0-9.+!_-]*", "its exact version as a string, e.g. '1.4.4'")
    sha256: _pattern("sha256", r"[0-9a-f]{64}", "the wheel's sha256: 64 lowercase hex digits (pip hash FILE.whl)")
    member: str  # the file's path inside the wheel


class Model(Strict):
    name: str
    source: Literal["builtin", "torchvision", "ultralytics", "transformers", "onnx_file", "torch_file"]
    task: Task
    size: Annotated[Any, BeforeValidator(image_size)] = None
    weights: str | None = None
    path: str | None = None
    package: Package | None = None  # where the file at `path` comes from when none is given (pipeline.fetch)
    outputs: list[str] = Field(default_factory=list)
    preprocess: Annotated[dict[str, Any], BeforeValidator(_preprocess)] = Field(default_factory=dict)
    postprocess: dict[str, Any] | None = None
    tolerances: dict[Precision, Tolerance] | None = None
    slices: dict[str, dict[str, OutputSlice]] | None = None  # output -> its parts, judged on their own
    classes: AtLeast(1) | list[str | int] | None = None  # how many, or their names by index
    # sequence: one symbol per class, a file or metadata:KEY of the ONNX file, with symbols before / after its own
    vocabulary: str | None = None
    vocabulary_first: list[str] | None = None
    vocabulary_last: list[str] | None = None
    set: Literal["photos", "documents"] | None = None  # the model's own world: input.set's default
    rotations: list[Literal[0, 90, 180, 270]] | None = None  # input.rotations' default
    opset: StrictInt | None = None
    inputs: list[dict[str, Any]] | None = None  # the model's inputs (name, shape, dtype); default: one image
    state: dict[str, str] | None = None  # output -> the input it feeds on the next call (a recurrent state)
    ranges: dict[str, list[Number]] | None = None  # default value ranges of generated inputs
    arch: str | None = None  # transformers: the architecture (AutoConfig.for_model)
    config: dict[str, Any] | None = None  # transformers: fields of its config
    sequence_length: AtLeast(1) | None = None  # transformers: tokens per input
    sample_rate: Annotated[StrictInt, Field(ge=1000, le=384000)] | None = None  # a waveform input's rate, Hz (audio)


class Select(Strict):
    objective: Literal["latency", "throughput", "footprint"]
    max_latency_ms: NonNegative | None = None
    min_throughput_ips: NonNegative | None = None
    min_agreement: NonNegative | None = None
    max_parity_error: NonNegative | None = None
    max_accuracy_drop: NonNegative | None = None  # against ground truth (input.set=documents, input.labels)
    max_artifact_mb: NonNegative | None = None
    max_footprint_mb: NonNegative | None = None
    max_cold_start_s: NonNegative | None = None
    max_peak_rss_mb: NonNegative | None = None
    runtimes: list[RuntimeName] | None = None
    precisions: list[Precision] | None = None
    require_parity: StrictBool = True
    without_source: StrictBool = True
    tie_within: Annotated[NonNegative, Field(lt=1)] = 0.03
    retime_rounds: Annotated[StrictInt, Field(ge=0, le=20)] = 3
    bundle: StrictBool = True


class Graph(Strict):
    name: str = "?"
    steps: dict[str, Any] = Field(default_factory=dict)


class Config(Strict):
    model: Model
    opset: StrictInt
    precision: Precision
    seed: StrictInt
    input: InputConfig
    validate_: Validate = Field(alias="validate")
    bench: Bench
    steps: dict[Literal["timeout_s"], Positive]
    limits: dict[Literal["min_opset", "max_opset"], StrictInt]
    cache: Cache
    calibration: Calibration
    graph: Graph | None = None
    select: Select | None = None
    tracking: Tracking | None = None
    progress: StrictBool  # the live view on a terminal (pipeline/progress.py)

    @model_validator(mode="after")
    def _across_keys(self):
        low, high = self.limits["min_opset"], self.limits["max_opset"]
        if low > high:
            raise custom(f"limits.max_opset={high!r} is below limits.min_opset={low!r}; give min_opset <= max_opset")
        if not low <= self.opset <= high:
            raise custom(f"opset={self.opset!r} is out of range; allowed: {low}..{high}")
        if self.precision not in self.validate_.tolerances:
            raise custom(f"validate.tolerances has no entry for precision={self.precision!r}")
        if self.model.weights and not Path(self.model.weights).is_file():
            raise custom(f"model.weights={self.model.weights!r}: no such file")
        if self.cache.enabled:
            problem = unwritable(self.cache.dir)
            if problem:
                raise custom(f"cache.dir={self.cache.dir!r} is not writable: {problem}")
        return self

    def record(self) -> dict:
        """The config as the run reads it, as data (results.json's `config`): the keys given, no default added."""
        return self.model_dump(by_alias=True, exclude_unset=True)


def unwritable(folder: str) -> str:
    """'' when a file can be written in `folder` (created if needed), else why not."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return error.strerror or str(error)
    return ""
