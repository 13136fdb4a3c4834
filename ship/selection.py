"""Which artifact to ship: rank the benchmarked candidates on every measured axis, mark the Pareto front,
apply the constraints (`select.*` in config) and pick the best on the objective, with the reason in one line.

Pure functions on candidate rows (pipeline.decision.Candidate; ship.candidates builds them from a run's results)
that answer a pipeline.decision.Decision. The `select` config was checked with the rest of the config
(pipeline.config.Select). Axes are read by name (`row.get(key)`): the tables below name them.
"""
from __future__ import annotations

import runtimes
from pipeline.decision import Candidate, Decision, Ranked

OBJECTIVES = {"latency": ("median_ms", "min"), "throughput": ("throughput_ips", "max"),
              "footprint": ("footprint_mb", "min")}
# The axes every candidate is ranked on and the Pareto front is built from: key -> (label, better).
AXES = {"median_ms": ("median latency", "min"), "throughput_ips": ("throughput", "max"),
        "quality": ("agreement", "max"), "artifact_mb": ("artifact size", "min"),
        "installed_mb": ("installed size", "min"), "cold_start_s": ("cold start", "min"),
        "peak_rss_mb": ("peak RSS", "min")}
# Among candidates tied on the objective (within tie_within), the first of these that differs decides.
TIE_BREAKERS = {"latency": ("quality", "installed_mb", "artifact_mb", "cold_start_s"),
                "throughput": ("quality", "installed_mb", "artifact_mb", "median_ms"),
                "footprint": ("quality", "median_ms", "cold_start_s")}
# Numeric limits: config key -> (row key, "max" = value must be <= the limit, "min" = >=).
LIMITS = {"max_latency_ms": ("median_ms", "max"), "min_throughput_ips": ("throughput_ips", "min"),
          "min_agreement": ("agreement", "min"), "max_parity_error": ("parity_error", "max"),
          "max_accuracy_drop": ("accuracy_drop", "max"),
          "max_artifact_mb": ("artifact_mb", "max"), "max_footprint_mb": ("footprint_mb", "max"),
          "max_cold_start_s": ("cold_start_s", "max"), "max_peak_rss_mb": ("peak_rss_mb", "max")}


# ---- ranking and the front -------------------------------------------------------------------------------
def _better(a, b, direction: str) -> bool:
    """a strictly better than b; a missing value is never better and anything measured beats it."""
    if a is None:
        return False
    if b is None:
        return True
    return a < b if direction == "min" else a > b


def dominates(a: Candidate, b: Candidate, axes: dict = AXES) -> bool:
    """a is no worse than b on every axis and strictly better on at least one."""
    strictly = False
    for key, (_, direction) in axes.items():
        if _better(b.get(key), a.get(key), direction):
            return False
        strictly |= _better(a.get(key), b.get(key), direction)
    return strictly


def pareto_front(rows: list[Candidate], axes: dict = AXES) -> list[str]:
    """ids of the rows no other row dominates (identical rows are all on it)."""
    return [r.id for r in rows if not any(dominates(o, r, axes) for o in rows if o is not r)]


def _sort_value(value, direction: str) -> tuple:
    if value is None:
        return (1, 0.0)  # unmeasured: last
    return (0, value if direction == "min" else -value)


def rank(rows: list[Candidate], objective: str) -> list[Candidate]:
    """Best first on the objective, then the tie-breakers, then id (deterministic)."""
    key, direction = OBJECTIVES[objective]
    breakers = [(k, AXES[k][1]) for k in TIE_BREAKERS[objective]]
    return sorted(rows, key=lambda r: (_sort_value(r.get(key), direction),
                                       *(_sort_value(r.get(k), d) for k, d in breakers), r.id))


def axis_ranks(rows: list[Candidate]) -> dict[str, dict[str, int]]:
    """id -> {axis: 1-based rank among the rows} (ties share the better rank)."""
    ranks: dict[str, dict[str, int]] = {r.id: {} for r in rows}
    for key, (_, direction) in AXES.items():
        values = sorted(_sort_value(r.get(key), direction) for r in rows)
        for r in rows:
            ranks[r.id][key] = values.index(_sort_value(r.get(key), direction)) + 1
    return ranks


# ---- constraints -----------------------------------------------------------------------------------------
def violations(row: Candidate, spec: dict) -> list[str]:
    """Every constraint the row breaks, each as 'key=limit (what was measured)'. [] = eligible."""
    if row.status != "ok":
        return [f"benchmark failed ({row.error})"]
    failed = []
    floor, agreement = row.floor, row.agreement
    if floor is not None and agreement is not None and agreement < floor:  # whatever the other constraints say
        failed.append(f"agreement floor {floor:g} ({describe_value('agreement', agreement, row.task)})")
    if spec.get("runtimes") is not None and row.runtime not in spec["runtimes"]:
        failed.append(f"runtimes={list(spec['runtimes'])} (runtime {row.runtime})")
    if spec.get("precisions") is not None and row.precision not in spec["precisions"]:
        failed.append(f"precisions={list(spec['precisions'])} (made at {row.precision})")
    if spec.get("require_parity") and not row.parity_passed:
        failed.append("require_parity (its parity check failed)")
    if spec.get("without_source") and row.runs_without_source is False:
        failed.append("without_source (needs the model's Python source)")
    for key, (field, bound) in LIMITS.items():
        limit = spec.get(key)
        if limit is None:
            continue
        value = row.get(field)
        if value is None:
            failed.append(f"{key}={limit:g} (not measured)")
        elif (value > limit) if bound == "max" else (value < limit):
            failed.append(f"{key}={limit:g} ({describe_row(field, row)})")
    return failed


# ---- the decision ----------------------------------------------------------------------------------------
def select(rows: list[Candidate], spec: dict) -> Decision:
    """The whole decision as data: ranking, front, per-candidate violations, pick and the one-line reason.

    status: "picked", "none" (candidates exist, none meets the constraints) or "empty" (nothing benchmarked).
    """
    objective = spec["objective"]
    key, direction = OBJECTIVES[objective]
    ordered = rank(rows, objective)
    measured = [r for r in ordered if r.status == "ok"]
    front = set(pareto_front(measured))
    ranks = axis_ranks(measured)
    candidates = [Ranked(**r.model_dump(), rank=i + 1, on_front=r.id in front, failed=violations(r, spec),
                         axis_ranks=ranks.get(r.id, {})) for i, r in enumerate(ordered)]
    decided = {"objective": objective, "constraints": dict(spec), "candidates": candidates,
               "front": [r.id for r in ordered if r.id in front]}
    eligible = [c for c in candidates if not c.failed]
    rejected = [c for c in candidates if c.failed]
    if not rows:
        return Decision(**decided, status="empty", reason="no pick: nothing was benchmarked")
    if not eligible:
        return Decision(**decided, status="none",
                        reason=f"no pick: none of the {len(rows)} candidates meets the constraints ("
                               + "; ".join(f"{c.id}: {' and '.join(c.failed)}" for c in rejected) + ")")
    best_value = eligible[0].get(key)
    tie = spec.get("tie_within") or 0.0
    tied = [r for r in eligible if _within(r.get(key), best_value, tie, direction)]
    pick = rank_tied(tied, objective)[0]
    best_rejected = rejected[0] if rejected else None
    return Decision(**decided, status="picked", pick=pick.id, best_rejected=best_rejected and best_rejected.id,
                    tied_with=[r.id for r in tied if r.id != pick.id],
                    reason=reason_line(pick, objective, tied, best_rejected, tie))


def _within(value, best, tie: float, direction: str) -> bool:
    if value is None or best is None:
        return value is best
    return value <= best * (1 + tie) if direction == "min" else value >= best * (1 - tie)


def rank_tied(tied: list[Ranked], objective: str) -> list[Ranked]:
    """Candidates that tie on the objective: the tie-breakers decide first, then the objective itself."""
    key, direction = OBJECTIVES[objective]
    breakers = [(k, AXES[k][1]) for k in TIE_BREAKERS[objective]]
    return sorted(tied, key=lambda r: (*(_sort_value(r.get(k), d) for k, d in breakers),
                                       _sort_value(r.get(key), direction), r.id))


# ---- words -----------------------------------------------------------------------------------------------
def describe_value(field: str, value, task: str | None = None) -> str:
    if value is None:
        return f"{field} not measured"
    if field == "agreement":
        return {"classification": f"top-1 agreement {value:.0%}", "detection": f"box F1 {value:.3f}",
                "segmentation": f"mean IoU {value:.3f}"}.get(
            task, f"agreement {value:.3g}")
    return {"median_ms": f"{value:.2f} ms median", "throughput_ips": f"{value:.1f} img/s",
            "parity_error": f"max abs error {value:.2e}", "artifact_mb": f"artifact {value:.1f} MB",
            "installed_mb": f"installed {value:.0f} MB", "footprint_mb": f"footprint {value:.0f} MB",
            "cold_start_s": f"cold start {value:.2f} s", "peak_rss_mb": f"peak RSS {value:.0f} MB"}.get(
        field, f"{field} {value}")


def describe_row(field: str, row: Candidate) -> str:
    """describe_value, with what the row knows besides the value (a drop's metric and interval)."""
    if field == "accuracy_drop" and row.accuracy_drop is not None:
        return (f"{row.accuracy_metric} {row.accuracy:.3f}, drop {row.accuracy_drop:+.3f} "
                f"[95% CI {row.accuracy_low:+.3f}, {row.accuracy_high:+.3f}] against the truth")
    if field == "accuracy" and row.accuracy is not None:
        return f"{row.accuracy_metric} {row.accuracy:.3f} against the truth"
    return describe_value(field, row.get(field), row.task)


def label(row: Candidate) -> str:
    """'openvino (OpenVINO int8, executes int8+fp32)'."""
    runtime = runtimes.label(row.runtime)
    executes = row.executed_precision
    suffix = f", executes {executes}" if executes and executes != row.precision else ""
    return f"{row.id} ({runtime} {row.precision}{suffix})"


RANDOM_WEIGHTS = ("weights random (built from the architecture with the seed): agreement measured on them is not "
                  "evidence for a trained model, least of all at low precision")
WHAT = {"latency": "fastest", "throughput": "highest throughput", "footprint": "smallest footprint"}


def reason_line(pick: Ranked, objective: str, tied: list[Ranked], best_rejected: Ranked | None, tie: float) -> str:
    """pick: X (...): fastest that meets every constraint, 1.93 ms median [agreement 1, footprint 255 MB];
    best rejected: Y (...), 1.40 ms median, by min_agreement=0.95 (agreement 0.8)."""
    key = OBJECTIVES[objective][0]
    quality = "agreement" if pick.agreement is not None else "parity_error"
    truth = ["accuracy_drop"] if pick.accuracy_drop is not None else []
    facts = ", ".join(describe_row(f, pick)
                      for f in (*truth, quality, "median_ms", "footprint_mb", "cold_start_s") if f != key)
    noisy = " (noisy: measure again before trusting a small difference)" if pick.noisy else ""
    line = (f"pick: {label(pick)}: {WHAT[objective]} that meets every constraint, "
            f"{describe_value(key, pick.get(key))}{noisy} [{facts}]")
    others = [r for r in tied if r.id != pick.id]
    if others:
        line += (f"; ties within {tie:.0%} with {', '.join(r.id for r in others)}, "
                 f"decided by {tie_decider(pick, others[0], objective)}")
    if pick.weights == "random":
        line += f"; {RANDOM_WEIGHTS}"
    if best_rejected is None:
        return line + "; no candidate rejected"
    ahead = " (it would have won)" if best_rejected.rank < pick.rank else ""
    return (line + f"; best rejected: {label(best_rejected)}, {describe_value(key, best_rejected.get(key))}"
            f"{ahead}, by {' and '.join(best_rejected.failed)}")


def tie_decider(pick: Ranked, other: Ranked, objective: str) -> str:
    """The first tie-breaker on which the pick beats the runner-up, in words."""
    for key in TIE_BREAKERS[objective]:
        if _better(pick.get(key), other.get(key), AXES[key][1]):
            field = key
            if key == "quality":
                field = "agreement" if pick.agreement is not None else "parity_error"
            ours = describe_value(field, pick.get(field), pick.task)
            theirs = describe_value(field, other.get(field), other.task)
            return f"{AXES[key][0]} ({ours} vs {theirs})"
    return f"{objective}, then name (equal on every tie-breaker)"
