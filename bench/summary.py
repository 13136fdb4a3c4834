"""One summary for a sweep: summary.csv, summary.md and plots, built from the jobs' results.json.

Written by a Hydra callback when a multirun ends, and rebuildable later from the job directories. With
+select, the selection runs here once across all jobs' rows (bench.selection_report.finish_sweep).

    python -m bench.summary SWEEP_DIR
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from hydra.experimental.callback import Callback

from bench.report import RUNTIME_LABEL
from bench.selection_report import finish_sweep

FIELDS = ["job", "overrides", "job_status", "artifact", "runtime", "precision", "executes_in", "median_ms",
          "p90_ms", "speedup_vs_torch", "max_abs_err", "min_cosine", "parity", "task_agreement", "size_mb",
          "error"]


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Every job directory of a sweep: those Hydra wrote an overrides.yaml into."""
    jobs = {p.parent.parent for p in sweep_dir.rglob(".hydra/overrides.yaml")}
    return sorted(jobs, key=lambda p: (len(p.parts), int(p.name) if p.name.isdigit() else p.name))


def _overrides(job: Path) -> str:
    lines = (job / ".hydra" / "overrides.yaml").read_text().splitlines()
    return " ".join(line.removeprefix("- ").strip() for line in lines if line.startswith("- "))


def job_rows(job: Path) -> list[dict]:
    base = {"job": job.name, "overrides": _overrides(job)}
    try:
        results = json.loads((job / "results.json").read_text())
    except (FileNotFoundError, ValueError):
        return [{**base, "job_status": "failed", "error": "the job wrote no results.json"}]
    base["job_status"] = results.get("status", "?")
    parity = {p["artifact"]: p for p in results.get("parity", [])}
    sizes = {a["name"]: a["bytes"] for a in results.get("artifacts", [])}
    torch_ms = next((b["infer_ms"]["median"] for b in results.get("bench", [])
                     if b.get("status") == "ok" and b.get("runtime") == "torch"), None)
    rows = []
    for bench in results.get("bench", []):
        name, check = bench["artifact"], parity.get(bench["artifact"])
        row = {**base, "artifact": name, "runtime": RUNTIME_LABEL.get(bench.get("runtime"), bench.get("runtime")),
               "precision": bench.get("precision"), "executes_in": bench.get("executed_precision"),
               "size_mb": round(sizes[name] / 2**20, 3) if name in sizes else None}
        if bench.get("status") == "ok":
            median = bench["infer_ms"]["median"]
            row.update(median_ms=round(median, 3), p90_ms=round(bench["infer_ms"]["p90"], 3),
                       speedup_vs_torch=round(torch_ms / median, 3) if torch_ms else None)
        else:
            row["error"] = bench.get("error")
        if check:
            errors = [o["max_abs"] for o in check["outputs"] if o.get("max_abs") is not None]
            cosines = [o["cosine"] for o in check["outputs"] if o.get("cosine") is not None]
            row.update(max_abs_err=max(errors) if errors else None, min_cosine=min(cosines) if cosines else None,
                       parity="passed" if check["passed"] else "FAILED",
                       task_agreement=(check.get("task") or {}).get("agreement"))
        rows.append(row)
    failed_steps = [f"{s['name']}: {s.get('error')}" for s in results.get("steps", []) if s["status"] == "failed"]
    if not rows or failed_steps or results.get("error"):
        rows.append({**base, "error": results.get("error") or "; ".join(failed_steps) or "no benchmark rows"})
    return rows


def build_summary(sweep_dir: Path, jobs: list[Path] | None = None) -> list[dict]:
    rows = [row for job in (job_dirs(sweep_dir) if jobs is None else jobs) for row in job_rows(job)]
    with open(sweep_dir / "summary.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        writer.writerows({k: row.get(k) for k in FIELDS} for row in rows)
    (sweep_dir / "summary.md").write_text(render_markdown(rows, sweep_dir))
    plot(rows, sweep_dir)
    return rows


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.2f}"
    return str(value)


def render_markdown(rows: list[dict], sweep_dir: Path) -> str:
    columns = ["overrides", "job_status", "runtime", "precision", "executes_in", "median_ms", "speedup_vs_torch",
               "max_abs_err", "min_cosine", "task_agreement", "parity", "size_mb", "error"]
    jobs = {row["job"] for row in rows}
    failed = {row["job"] for row in rows if row.get("job_status") != "ok"}
    lines = [f"# Sweep summary: {sweep_dir}", "",
             f"{len(jobs)} jobs, {len(failed)} not ok. Latency = median inference ms; speed-up vs PyTorch eager "
             "in the same job.", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    lines += ["", "![latency per runtime and precision](latency_by_runtime.png)", "",
              "![latency against parity error](latency_vs_error.png)", ""]
    return "\n".join(lines)


def plot(rows: list[dict], sweep_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = [r for r in rows if r.get("median_ms") is not None]
    if not timed:
        return
    labels = [f"{r['runtime']}\n{r['precision']} | {r['overrides']}" for r in timed]
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(timed) + 1.5))
    colours = {name: f"C{i}" for i, name in enumerate(sorted({r["runtime"] for r in timed}))}
    ax.barh(range(len(timed)), [r["median_ms"] for r in timed], color=[colours[r["runtime"]] for r in timed])
    ax.set_yticks(range(len(timed)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("median inference latency (ms)")
    ax.set_title("Latency per runtime and precision")
    fig.tight_layout()
    fig.savefig(sweep_dir / "latency_by_runtime.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    markers = {"fp32": "o", "fp16": "s", "bf16": "D", "int8": "^"}
    for r in timed:
        err = r.get("max_abs_err")
        if err is None:
            continue
        ax.scatter(max(err, 1e-9), r["median_ms"], color=colours[r["runtime"]],
                   marker=markers.get(r["precision"], "x"), s=50)
    for name, colour in colours.items():
        ax.scatter([], [], color=colour, label=name)
    for precision, marker in markers.items():
        ax.scatter([], [], color="grey", marker=marker, label=precision)
    ax.set_xscale("log")
    ax.set_xlabel("max abs error vs PyTorch (log)")
    ax.set_ylabel("median inference latency (ms)")
    ax.set_title("Latency against parity error (lower left is better)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(sweep_dir / "latency_vs_error.png", dpi=110)
    plt.close(fig)


class SweepSummary(Callback):
    """Hydra callback: when a multirun ends, summarise its jobs in the sweep directory."""

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = job_dirs(sweep_dir)
        rows = build_summary(sweep_dir, jobs)
        bad = len({r["job"] for r in rows if r.get("job_status") != "ok"})
        print(f"\nsweep summary: {sweep_dir / 'summary.md'} ({len(rows)} rows; {bad} job(s) not ok)")
        no_pick = finish_sweep(sweep_dir, jobs)  # +select: the pick across the jobs
        # Every job ran and everything is written; the exit code still tells a script (CI) that not all is well,
        # as a single run's does.
        if bad or no_pick:
            sys.exit(1)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m bench.summary SWEEP_DIR   (a Hydra multirun directory)", file=sys.stderr)
        return 2
    sweep_dir = Path(argv[0])
    jobs = job_dirs(sweep_dir)
    rows = build_summary(sweep_dir, jobs)
    print(f"{sweep_dir / 'summary.md'}: {len(rows)} rows")
    return finish_sweep(sweep_dir, jobs) or 0  # with +select: the pick across jobs


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
