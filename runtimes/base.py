"""What every runtime module provides, and the pieces they share.

A runtime module (runtimes/onnxruntime.py, ...) defines its `Options` (the `bench.runtime.<name>` block, a
dataclass the config schema validates), a `Runner` and a module-level `RUNTIME = Runtime(...)` that the
registry (runtimes/__init__.py) collects. Nothing outside runtimes/ keeps a table per runtime.

Like core/, this package imports only the standard library and numpy at module level: a runtime is imported
inside its Runner when an artifact is loaded, so a deploy bundle ships these files with only its own runtime.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np

from core.artifact import Artifact


@dataclass
class Settings:
    """What a Runner runs with, as data (a child process, a deploy bundle): threads, the precision asked for,
    the `bench.runtime` blocks, the input shapes and the mode."""

    threads: int = 0  # 0 = all cores
    precision: str = "fp32"  # what the runtime is asked to execute in
    options: dict = field(default_factory=dict)  # per runtime: {"onnxruntime": {...}, "openvino": {...}, ...}
    # input name -> the shape it will be fed; dynamic dimensions are fixed to it at load where the runtime can
    # (static shapes compile to faster code). Empty: keep them dynamic.
    shapes: dict = field(default_factory=dict)
    mode: str = "latency"  # latency: one request at a time; throughput: the runtime's throughput setting
    # output name -> the input it feeds on the next call (model.state): runtimes.load carries it (runtimes/state.py)
    state: dict = field(default_factory=dict)

    @property
    def n_threads(self) -> int:
        return self.threads or os.cpu_count() or 1

    def of(self, runtime: Runtime):
        """This runtime's options block as its Options dataclass (defaults filled in)."""
        given = dict(self.options.get(runtime.name) or {})
        known = {f.name for f in fields(runtime.options)}
        return runtime.options(**{k: v for k, v in given.items() if k in known})


def settings_data(bench: dict, runtime: str, precision: str, shapes: dict | None = None,
                  mode: str = "latency", state: dict | None = None) -> dict:
    """Settings as data for a child process (benchmark worker, fidelity, a deploy bundle), from the `bench` config
    block: its threads, the precision asked, this runtime's block of bench.runtime, the input shapes, the mode,
    the state carried between calls."""
    return {"threads": bench.get("threads") or 0, "precision": precision,
            "options": {runtime: (bench.get("runtime") or {}).get(runtime) or {}}, "shapes": dict(shapes or {}),
            "mode": mode, "state": dict(state or {})}


def with_override(settings: dict, runtime: str, override: dict) -> dict:
    """Settings as data with one bench.tune candidate applied: its `threads`, and its `options` merged into this
    runtime's block (a nested block, OpenVINO's config or ONNX Runtime's session_config, key by key)."""
    if not override:
        return settings
    block = dict(settings["options"].get(runtime) or {})
    for key, value in (override.get("options") or {}).items():
        block[key] = {**(block.get(key) or {}), **value} if isinstance(value, dict) else value
    threads = override.get("threads", settings["threads"])
    return {**settings, "threads": threads, "options": {**settings["options"], runtime: block}}


CallInputs = dict[str, np.ndarray]  # input name -> its value in one call


class Runner:
    """One loaded artifact: `runner(inputs)` maps one call's named inputs (each in the layout `layouts` asks
    for, the reference's otherwise) to the outputs in the reference's order and layout. Subclasses set what they
    applied (`applied`) and what the runtime executes in."""

    layouts: dict[str, str] = {}  # input name -> "NHWC" where the runtime takes an image channels-last
    executed_precision = "fp32"
    runtime = ""
    version = ""
    requests = 1  # inferences the runtime wants in flight at once (OpenVINO's throughput hint: more than 1)
    applied: dict = {}

    def __call__(self, inputs: CallInputs) -> list[np.ndarray]:
        raise NotImplementedError

    def run_many(self, inputs: CallInputs, count: int) -> None:
        """`count` inferences on the same inputs, as many in flight as the runtime wants (throughput)."""
        for _ in range(count):
            self(inputs)

    def layout(self, name: str) -> str:
        return self.layouts.get(name, "NCHW")

    def info(self) -> dict:
        layout = "NHWC" if "NHWC" in self.layouts.values() else "NCHW"
        return {"runtime": self.runtime, "version": self.version, "executed_precision": self.executed_precision,
                "layout": layout, "layouts": dict(self.layouts), "settings": dict(self.applied)}


@dataclass(frozen=True)
class Runtime:
    """Everything the rest of convgraph asks about one runtime."""

    name: str  # the key in bench.runtime, select.runtimes, results.json
    label: str  # for people: tables, plots, the bundle's README
    format: str  # the artifact format it runs (core.artifact.FORMATS)
    packages: tuple[str, ...]  # distributions it needs at inference time (footprint, the bundle's requirements)
    runner: Callable[[Artifact, Settings], Runner]
    options: type  # dataclass of its `bench.runtime.<name>` block
    runs_without_source: bool = True  # False: the model's Python classes are needed (PyTorch eager)
    # fidelity check: (artifact, batch, threads) -> a zero-argument call of the minimal loop over its own API
    bare_loop: Callable | None = None
    # localisation: (artifact, tensor names, batch, precision) -> {name: array} of intermediate tensors
    tensors: Callable | None = None
    # bench.profile: (artifact, settings, inputs, runs, onnx path) -> per-node profile (runtimes/profiling.py)
    profile: Callable | None = None
    takes_any_batch: Callable[[Artifact], bool] = lambda artifact: False
    # bench.tune: overrides of its bench.runtime block tried beside the block as given: settings that change how
    # fast it computes, not what (within float rounding)
    tunables: tuple[dict, ...] = ()
    # a library slow to import that its children import: they fork from one process that imported it once
    warm_import: str | None = None

    @property
    def module(self) -> str:
        """Its module (runtimes.<name>), where its Runner is: its source decides what the runtime outputs."""
        return self.runner.__module__


def positive(name: str, value, minimum: int = 1) -> None:
    """For an Options dataclass's __post_init__: an int (not a bool) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed; give an integer >= {minimum}")


def to_layout(batch: np.ndarray, layout: str) -> np.ndarray:
    """Canonical NCHW batch -> the layout a runner wants."""
    if layout == "NHWC" and batch.ndim == 4:
        return np.ascontiguousarray(batch.transpose(0, 2, 3, 1))
    return batch


def for_runner(runner: Runner, inputs: CallInputs) -> CallInputs:
    """One call's inputs in the reference's layout -> in the layouts the runner asks for (outside any timed call)."""
    return {name: to_layout(value, runner.layout(name)) for name, value in inputs.items()}

