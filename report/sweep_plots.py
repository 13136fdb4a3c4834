"""A sweep's two plots: latency per runtime and precision, and latency against accuracy (against the ground truth
where there is one, else the task's agreement with the reference, else the parity error of a model without a task).

An artifact that several jobs measured (identical bytes, e.g. the fp32 rows of a precision sweep, often measured
once and reused) is one bar and one point: the first job's.
"""
from __future__ import annotations

from pathlib import Path

MARKERS = {"fp32": "o", "fp16": "s", "bf16": "D", "int8": "^"}


def distinct(rows: list[dict]) -> list[dict]:
    """Timed rows, each artifact (its bytes, on its runtime, executing in its precision) once."""
    seen, out = set(), []
    for row in rows:
        if row.get("median_ms") is None:
            continue
        key = (row.get("sha256"), row.get("runtime"), row.get("executes_in"))
        if row.get("sha256") and key in seen:
            continue
        seen.add(key)
        out.append(row)
    return out


def quality_axis(rows: list[dict]) -> tuple[str, str, bool] | None:
    """(row key, axis label, log scale) of the quality the second plot shows."""
    if any(r.get("accuracy") is not None for r in rows):
        metric = next(r["accuracy_metric"] for r in rows if r.get("accuracy") is not None)
        return "accuracy", f"{metric} against the ground truth", False
    if any(r.get("task_agreement") is not None for r in rows):
        return "task_agreement", "task agreement with the reference", False
    if any(r.get("max_abs_err") is not None for r in rows):
        return "max_abs_err", "max abs error vs the reference (log; no task metric)", True
    return None


def plot(rows: list[dict], sweep_dir: Path, varied: dict[str, str]) -> None:
    """varied: job -> the overrides that tell it apart (report.summary.split_overrides)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = distinct(rows)
    if not timed:
        return
    labels = [f"{r['runtime']}\n{r['precision']} | {varied.get(r['job'], '-')}" for r in timed]
    colours = {name: f"C{i}" for i, name in enumerate(sorted({r["runtime"] for r in timed}))}
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(timed) + 1.5))
    ax.barh(range(len(timed)), [r["median_ms"] for r in timed], color=[colours[r["runtime"]] for r in timed])
    ax.set_yticks(range(len(timed)), labels, fontsize=7)
    ax.invert_yaxis()
    latencies = [r["median_ms"] for r in timed]
    if min(latencies) > 0 and max(latencies) > 10 * min(latencies):  # else the fast runtimes' bars vanish
        ax.set_xscale("log")
    ax.set_xlabel("median inference latency (ms)")
    ax.set_title("Latency per runtime and precision")
    fig.tight_layout()
    fig.savefig(sweep_dir / "latency_by_runtime.png", dpi=110)
    plt.close(fig)

    axis = quality_axis(timed)
    if axis is None:
        return
    key, label, log = axis
    fig, ax = plt.subplots(figsize=(7, 5))
    for r in timed:
        if r.get(key) is None:
            continue
        ax.scatter(max(r[key], 1e-9) if log else r[key], r["median_ms"], color=colours[r["runtime"]],
                   marker=MARKERS.get(r["precision"], "x"), s=50)
    for name, colour in colours.items():
        ax.scatter([], [], color=colour, label=name)
    for precision, marker in MARKERS.items():
        ax.scatter([], [], color="grey", marker=marker, label=precision)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel("median inference latency (ms)")
    ax.set_title("Latency against accuracy (" + ("lower left" if log else "lower right") + " is better)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(sweep_dir / "latency_vs_accuracy.png", dpi=110)
    plt.close(fig)
