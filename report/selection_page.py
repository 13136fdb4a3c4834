"""The selection as a user sees it: the ranking table, the one-line pick, the plot (ship.selection decides, ship.finish
records the decision; this only renders it)."""
from __future__ import annotations

import json
from pathlib import Path

from tabulate import tabulate

from pipeline.decision import Decision, Ranked
from ship.selection import AXES, OBJECTIVES

PLOT = "selection.png"  # beside selection.md, in the run or the sweep directory

COLUMNS = [("rank", "#"), ("id", "candidate"), ("runtime", "runtime"), ("precision", "precision"),
           ("median_ms", "median ms"), ("throughput_ips", "img/s"), ("quality", "agreement"),
           ("artifact_mb", "artifact MB"), ("installed_mb", "installed MB"), ("cold_start_s", "cold start s"),
           ("peak_rss_mb", "peak RSS MB"), ("on_front", "front"), ("verdict", "verdict")]


def _cell(candidate: Ranked, key: str, pick: str | None) -> str:
    value = candidate.get(key)  # the column's field (COLUMNS names them), or None for the computed ones
    if key == "quality":  # agreement where the model has a task, else the parity error
        if candidate.agreement is not None:
            return f"{candidate.agreement:.3f}"
        return "-" if candidate.parity_error is None else f"err {candidate.parity_error:.1e}"
    if key == "on_front":
        return "*" if value else ""
    if key == "verdict":
        if candidate.id == pick:
            return "PICK"
        return "; ".join(candidate.failed) if candidate.failed else "meets constraints"
    if key == "median_ms" and value is not None and candidate.noisy:
        return f"{value:.2f}*"  # the benchmark flagged the measurement as noisy (high coefficient of variation)
    if key == "throughput_ips" and value is not None and candidate.throughput_batch not in (None, candidate.batch):
        return f"{value:.1f} @b{candidate.throughput_batch}"  # best images/s came from another batch size
    if key == "precision":
        executes = candidate.executed_precision
        return f"{value}->{executes}" if executes and executes != value else str(value)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def table(decision: Decision) -> tuple[list[str], list[list[str]]]:
    heads = [h for _, h in COLUMNS]
    if all(c.agreement is None for c in decision.candidates):
        heads[[k for k, _ in COLUMNS].index("quality")] = "max abs err"
    rows = [[_cell(c, k, decision.pick) for k, _ in COLUMNS] for c in decision.candidates]
    return heads, rows


def render_text(decision: Decision) -> str:
    heads, rows = table(decision)
    objective = decision.objective
    return "\n".join([
        f"Selection ({objective}: {AXES.get(OBJECTIVES[objective][0], ('footprint',))[0]}; ranked best first, "
        f"* = Pareto front over {', '.join(label for label, _ in AXES.values())})",
        tabulate(rows, headers=heads, tablefmt="simple", disable_numparse=True), "",
        f"Pareto front: {', '.join(decision.front) or '-'}", decision.reason])


def render_markdown(decision: Decision, picture: Path | None) -> str:
    heads, rows = table(decision)
    lines = [f"# Selection: {decision.objective}", "", decision.reason, "",
             tabulate(rows, headers=heads, tablefmt="github", disable_numparse=True)]
    constraints = {k: v for k, v in decision.constraints.items() if v is not None}
    lines += ["", f"Constraints: `{json.dumps(constraints)}`", ""]
    if picture:
        lines += [f"![latency vs agreement and installed size]({picture.name})", ""]
    return "\n".join(lines)


# ---- the plot --------------------------------------------------------------------------------------------
def _front_2d(points: list[tuple[float, float, str]], y_better: str) -> list[tuple[float, float, str]]:
    """Points no other point beats on both latency (lower) and y: the staircase drawn on each panel."""
    def beats(a, b):
        y_ok = a[1] >= b[1] if y_better == "max" else a[1] <= b[1]
        return a[0] <= b[0] and y_ok and (a[0] < b[0] or a[1] != b[1])
    return sorted((p for p in points if not any(beats(o, p) for o in points)), key=lambda p: p[0])


def plot(decision: Decision, path: Path) -> Path | None:
    """Two panels: latency vs agreement (or parity error) and latency vs installed size; front and pick marked."""
    measured = [c for c in decision.candidates if c.median_ms is not None]
    if not measured:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_task = any(c.agreement is not None for c in measured)
    quality = ("agreement", "max", "task agreement with the reference (higher is better)") if has_task else (
        "parity_error", "min", "max abs error vs the reference (lower is better)")
    panels = [quality, ("installed_mb", "min", "installed size of the runtime, MB (log)")]
    colours = {r: f"C{i}" for i, r in enumerate(sorted({str(c.runtime) for c in measured}))}
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    latencies = [c.median_ms for c in measured]
    for ax, (key, better, ylabel) in zip(axes, panels, strict=True):
        points = [(c.median_ms, c.get(key), c.id) for c in measured if c.get(key) is not None]
        for i, c in enumerate(c for c in measured if c.get(key) is not None):
            eligible = not c.failed
            ax.scatter(c.median_ms, c.get(key), s=60, marker="o" if eligible else "X", zorder=3,
                       color=colours[str(c.runtime)], alpha=1.0 if eligible else 0.45)
            ax.annotate(c.id, (c.median_ms, c.get(key)), textcoords="offset points", fontsize=7,
                        xytext=(6, 5 if i % 2 == 0 else -11))  # alternate above / below: close points stay legible
        front = _front_2d(points, better)
        if front:
            ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="grey", linestyle="--",
                    linewidth=1, zorder=2)
            ax.scatter([p[0] for p in front], [p[1] for p in front], s=150, facecolors="none", edgecolors="black",
                       linewidths=1, zorder=2, label="Pareto front of these two axes")
        pick = next((c for c in measured if c.id == decision.pick), None)
        if pick and pick.get(key) is not None:
            ax.scatter(pick.median_ms, pick.get(key), s=420, marker="*", facecolors="none", edgecolors="red",
                       linewidths=1.5, zorder=4, label=f"pick: {pick.id}")
        if key == "installed_mb" or (key == "parity_error" and all(p[1] > 0 for p in points)):
            ax.set_yscale("log")
        if key == "agreement":
            low = min(p[1] for p in points) if points else 1.0
            ax.set_ylim(min(0.9, low - 0.02), 1.01)
        if max(latencies) > 10 * min(latencies):  # runtimes span orders of magnitude: keep the fast ones apart
            ax.set_xscale("log")
        ax.set_xlabel("median inference latency, ms (lower is better)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    for runtime, colour in colours.items():
        axes[1].scatter([], [], color=colour, label=runtime)
    axes[1].scatter([], [], color="grey", marker="X", alpha=0.45, label="rejected by a constraint")
    axes[0].legend(fontsize=7, loc="best")
    axes[1].legend(fontsize=7, loc="best")
    fig.suptitle(f"Which runtime to ship ({decision.objective}): "
                 + (f"pick {decision.pick}" if decision.pick else "no candidate meets the constraints"),
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---- what a run or a sweep shows of its decision ---------------------------------------------------------------
def publish(decision: Decision, out_dir: Path) -> Path | None:
    """selection.md and selection.png (its path returned, None without a measured candidate) in out_dir; the
    table, the reason and the bundle printed."""
    picture = plot(decision, out_dir / PLOT)
    if picture is None:
        (out_dir / PLOT).unlink(missing_ok=True)  # an earlier decision's: the pages show what is there
    (out_dir / "selection.md").write_text(render_markdown(decision, picture))
    print()
    print(render_text(decision))
    if picture:
        print(f"selection plot: {picture}")
    if decision.bundle:
        print(f"deploy bundle: {decision.bundle}  (check it: python -m ship.verify_bundle {decision.bundle})")
    elif decision.bundle_error:
        print(f"deploy bundle NOT written: {decision.bundle_error}")
    return picture
