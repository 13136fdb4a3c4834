"""Accuracy-aware low precision: judge a quantized candidate by the task's agreement with the float model on the
validation samples, and search which nodes to keep in float when quantizing everything falls below the target.

Shared by the int8 steps (OpenVINO through NNCF's accuracy control, ONNX Runtime and TFLite through a search of
our own). The reference is the step's float input run by ONNX Runtime (or, for TFLite, the SavedModel), the
samples are the run's calibration samples (the same photos the run checks parity on, when it has no others: the
search then tunes on what parity measures, which the report says).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median
from typing import Literal

import numpy as np

from core.errors import NotApplicable
from core.samples import per_item, stacked
from validators.task_metrics import task_agreement


@dataclass(frozen=True)
class AccuracyAware:
    """The accuracy-aware options every int8 step shares: when quantizing everything falls below the task agreement
    floor (validate.task.min_agreement.<task>.int8, or `target`), the nodes that cost the most agreement are kept in
    float, at most max_float_nodes. auto: searches for trained weights (model.weights, or a model file's own); on
    random weights it quantizes everything, since agreement there says nothing about a trained model. true: search
    anyway. The pipeline resolves these into the step's StepInputs.accuracy (converters/step_io/step_inputs.py)."""

    accuracy_aware: bool | Literal["auto"] = "auto"
    target: float | None = None  # the agreement to reach; null: the task's floor at int8
    max_float_nodes: int = 32
    # the artifact made at least this many times as fast as its runtime's fp32 on the search's side-by-side timing
    # (SideBySide), or the step is n/a ("not worth it") and not offered; 0: offered whatever its speed
    min_speedup: float = 1.0

    def __post_init__(self):
        if self.min_speedup < 0:
            raise ValueError(f"min_speedup={self.min_speedup:g} is not allowed; give a number >= 0 (0: offered at "
                             "any speed)")


@dataclass(frozen=True)
class BudgetedSearch(AccuracyAware):
    """An accuracy-aware search of our own (ONNX Runtime, TFLite), which also stops after budget_s seconds."""

    budget_s: float = 600.0


@dataclass
class Judge:
    """The task agreement of a candidate's outputs with the reference outputs on the validation samples."""

    reference: list[np.ndarray]  # the float model's outputs, one row per sample: [N, *output shape]
    processing: dict  # core.prepost.Processing.from_config
    task: dict  # validate.task
    target: float  # the agreement the search aims at (the task's floor at int8 by default)

    def agreement(self, outputs: list[np.ndarray]) -> float:
        """The task agreement of outputs [N, *output shape] (judged per image: core.samples.per_item)."""
        result = task_agreement(per_item(self.reference), per_item(outputs), self.processing, self.task, "int8")
        if result is None:
            raise ValueError(f"accuracy_aware needs a task with a metric (classification, detection, segmentation); "
                             f"model.task is {self.processing.get('task')!r}")
        return float(result["agreement"])

    def metric_name(self) -> str:
        return {"classification": "top-1 agreement", "detection": "detection F1",
                "segmentation": "mean IoU"}.get(self.processing.get("task"), "agreement")


def ort_session(path: str):
    """An ONNX Runtime CPU session on its defaults (all cores), quiet: what the searches judge and time with."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def onnx_outputs(path: str, samples: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
    """An ONNX file's outputs on each sample (ONNX Runtime, one sample at a time), stacked."""
    session = ort_session(path)
    return stacked([session.run(None, sample) for sample in samples])


@dataclass
class Search:
    """What the accuracy-aware search did, for the artifact's meta (and report.md)."""

    target: float
    metric: str
    samples: int
    plain_agreement: float | None = None  # everything quantized
    agreement: float | None = None  # the artifact made
    kept_in_float: list[str] = field(default_factory=list)
    tried: list[dict] = field(default_factory=list)  # [{kept: n, agreement: x, speedup: s}] in the order tried
    seconds: float = 0.0
    stopped: str = ""  # why it stopped: "target met", "budget", "every candidate tried"
    speedup: float | None = None  # the artifact made against the float model, side by side (SideBySide)
    recipe: str | None = None  # the quantization recipe the artifact was made with (choose_recipe)
    recipes: dict[str, float] = field(default_factory=dict)  # each recipe tried -> its agreement, every node int8
    float_part: str | None = None  # what the artifact's float layers execute in (OpenVINO: fp32 or bf16)
    float_part_why: str = ""  # why that one (the bf16 trial's agreement and side-by-side speed, or why not tried)

    def as_meta(self) -> dict:
        return {"target": self.target, "metric": self.metric, "validation_samples": self.samples,
                "plain_agreement": self.plain_agreement, "agreement": self.agreement,
                "kept_in_float": self.kept_in_float, "tried": self.tried, "seconds": round(self.seconds, 1),
                "stopped": self.stopped, "speedup": self.speedup,
                **({"recipe": self.recipe, "recipes": {r: round(a, 4) for r, a in self.recipes.items()}}
                   if self.recipe else {}),
                **({"float_part": self.float_part, "float_part_why": self.float_part_why} if self.float_part else {})}


def choose_recipe(recipes: list[str], judged: Callable[[str], float], search: Search, budget_s: float) -> str:
    """The recipe (a calibration method, a preset) whose every-node-int8 model agrees best with the float model
    on the validation samples (the calibration split, never the judged samples); the first on a tie, and the
    ones after a spent budget are not tried. judged(recipe) makes that model and returns its agreement. Sets
    search.recipe, search.recipes and search.plain_agreement (the chosen recipe's)."""
    started = time.perf_counter()
    for recipe in recipes:
        if search.recipes and time.perf_counter() - started > budget_s:
            break
        search.recipes[recipe] = judged(recipe)
    search.recipe = max(search.recipes, key=lambda r: (search.recipes[r], -recipes.index(r)))
    search.plain_agreement = search.recipes[search.recipe]
    return search.recipe


@dataclass
class SideBySide:
    """The search's own quick timing: a candidate and the float model timed in turn, in short blocks of calls, so
    both see the same load; the float model's median over the candidate's. Each block's first call is not counted:
    it runs on caches the other model just filled (one call each in turn starved the larger float model's weights
    and favoured int8). An estimate to choose between candidates and to drop one that does not pay, not the
    benchmark (which measures the artifact made, under the machine-wide lock)."""

    float_call: Callable[[], object]
    rounds: int = 7
    block: int = 5  # calls counted per block

    def speedup(self, candidate_call: Callable[[], object]) -> float:
        float_ms, candidate_ms = [], []
        for _ in range(self.rounds):
            float_ms += _block(self.float_call, self.block)
            candidate_ms += _block(candidate_call, self.block)
        return round(median(float_ms) / max(median(candidate_ms), 1e-9), 3)


def _block(call: Callable[[], object], count: int) -> list[float]:
    call()  # warms the caches (and, the first time, allocation and kernel choice): not counted
    return [_ms(call) for _ in range(count)]


def _ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def worth_it(search: Search, min_speedup: float, runtime: str, explain: Callable[[], str] | None = None) -> None:
    """NotApplicable (the step is n/a, not offered) when the artifact made is not at least `min_speedup` times as fast
    as the float model on the same runtime: int8 whose float islands cost more than its int8 part saves. explain(),
    when given, says where the time went (the runtime's profile of the artifact: where_the_time_went)."""
    if search.speedup is None or min_speedup <= 0 or search.speedup >= min_speedup:
        return
    islands = f"{len(search.kept_in_float)} node(s) kept in float" if search.kept_in_float else "every node int8"
    why = ""
    if explain is not None:
        try:
            why = f"; {explain()}"
        except Exception as error:  # the reason stands without its explanation
            why = f"; no profile ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
    raise NotApplicable(f"not worth it: {runtime} int8 ({islands}, {search.metric} {search.agreement:.3f}) ran "
                        f"{search.speedup:.2f}x the speed of its fp32 on the search's side-by-side timing, below "
                        f"min_speedup={min_speedup:g}{why}")


BORDERS = ("fp32->int8", "int8->fp32", "fp32->uint8", "uint8->fp32")  # what a Q or DQ node (or a kernel) converts


def where_the_time_went(profile: dict, float_profile: dict | None = None) -> str:
    """One line from a per-node profile (runtimes.profiling.profile_data) of an int8 artifact, beside the float
    model's node time when given: the share of its node time spent converting between int8 and float (the borders
    of its float islands), computing in 8 bits and in float, each with its node count."""
    parts = {"converting int8<->float": [0.0, 0], "in int8 ops": [0.0, 0], "in float ops": [0.0, 0]}
    for node in profile.get("nodes", []):
        precision = node.get("precision") or "?"
        key = ("converting int8<->float" if precision in BORDERS or ("->" in precision and "int8" in precision)
               else "in int8 ops" if "int8" in precision else "in float ops")
        parts[key][0] += node.get("share") or 0.0
        parts[key][1] += 1
    shares = ", ".join(f"{share:.0%} {key} ({count} node{'s' if count != 1 else ''})"
                       for key, (share, count) in parts.items() if count)
    against = f" against fp32's {float_profile.get('nodes_ms', 0):.2f} ms" if float_profile else ""
    return f"its profile ({profile.get('nodes_ms', 0):.2f} ms of nodes per run{against}): {shares}"


# agreement a float island must add to be worth its time, when the target is out of reach: less than half a point
# does not pay for a slower model
SAME_AGREEMENT = 0.005


def keep_in_float(ranked: list[str], attempt: Callable[[list[str]], float], search: Search,
                  budget_s: float, speed: Callable[[list[str]], float] | None = None,
                  plain_speedup: float | None = None) -> list[str]:
    """Keep the most sensitive nodes in float, 1, 2, 4, ... of `ranked` (most sensitive first), until the
    agreement reaches the target, the budget is spent or every node was tried; then the fewest that reached it
    between the last two counts (a bisection). attempt(kept) makes and judges one candidate; speed(kept), when
    given, times the candidate just made against the float model (SideBySide). Returns the nodes kept in float of
    the best candidate: of those that reached the target the fastest (without timing: the fewest); else, of those
    within SAME_AGREEMENT of the best agreement, everything quantized (search.agreement, plain_speedup)
    included, the fewest: the timing of candidates that differ by a few float nodes is noise (on a
    four-node model the same candidate read 1.17x and 1.73x in two runs)."""
    started = time.perf_counter()
    results: dict[int, float] = {}
    speedups: dict[int, float] = {}

    def run(count: int) -> float:
        if count not in results:
            results[count] = attempt(ranked[:count])
            search.tried.append({"kept": count, "agreement": round(results[count], 4)})
            if speed is not None:
                speedups[count] = search.tried[-1]["speedup"] = speed(ranked[:count])
        return results[count]

    count, low = 1, 0
    while True:
        if run(count) >= search.target:
            break
        if count >= len(ranked):
            search.stopped = "every candidate tried"
            break
        if time.perf_counter() - started > budget_s:
            search.stopped = "budget"
            break
        low, count = count, min(2 * count, len(ranked))
    if results[count] >= search.target:
        search.stopped = "target met"
        high = count
        while high - low > 1 and time.perf_counter() - started <= budget_s:  # fewest nodes that still reach it
            middle = (low + high) // 2
            if run(middle) >= search.target:
                high = middle
            else:
                low = middle
        count = high
        if speedups:  # more float nodes can be faster (fewer int8/float borders): the fastest that reaches it
            count = max((n for n in results if results[n] >= search.target), key=lambda n: (speedups[n], -n))
    else:
        agreements = {0: search.agreement, **results}  # 0: everything quantized, as the search began
        best = max(agreements.values())
        count = min(n for n, agreement in agreements.items() if agreement >= best - SAME_AGREEMENT)
        speedups[0] = plain_speedup
    search.seconds = time.perf_counter() - started
    search.speedup = speedups.get(count)
    return ranked[:count]


def relative_error(reference: np.ndarray, candidate: np.ndarray) -> float:
    """How far a quantized tensor is from the float one, for ranking what to keep in float (ONNX Runtime's
    nodes, TFLite's layers): mean over channels (axis 1) of mean |difference| / mean |reference| of that channel,
    a channel's scale floored at 1% of the tensor's largest channel scale (a dead channel must not divide by
    nothing)."""
    ref = reference.astype(np.float64)
    diff = np.abs(candidate.astype(np.float64) - ref)
    if ref.ndim < 2 or not np.issubdtype(reference.dtype, np.floating):
        return float(diff.mean() / (np.abs(ref).mean() + 1e-12))
    axes = tuple(a for a in range(ref.ndim) if a != 1)
    scale = np.abs(ref).mean(axis=axes)
    return float(np.mean(diff.mean(axis=axes) / np.maximum(scale, 0.01 * scale.max() + 1e-12)))
