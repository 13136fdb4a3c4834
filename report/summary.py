"""One summary for a sweep: summary.csv, summary.md and plots, built from the jobs' results.json
(report.sweep writes it when a multirun ends, and rebuilds it later from the job directories)."""
from __future__ import annotations

import csv
import re
from pathlib import Path

from tabulate import tabulate

import runtimes
from pipeline.results import RunResults, load_results
from report import sweep_plots

FIELDS = ["job", "overrides", "job_status", "artifact", "runtime", "precision", "executes_in", "median_ms",
          "p90_ms", "speedup", "speedup_against", "max_abs_err", "min_cosine", "parity", "task_agreement",
          "accuracy_metric", "accuracy", "accuracy_drop", "accuracy_low", "accuracy_high", "size_mb", "sha256",
          "reused_from", "error"]


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Every job directory of a sweep: those Hydra wrote an overrides.yaml into."""
    jobs = {p.parent.parent for p in sweep_dir.rglob(".hydra/overrides.yaml")}
    return sorted(jobs, key=lambda p: (len(p.parts), int(p.name) if p.name.isdigit() else p.name))


def as_typed(override: str) -> str:
    """An override as the user typed it: Hydra saves a multirun job's overrides escaped (file\\:///x)."""
    return re.sub(r"\\(.)", r"\1", override)


def job_overrides(job: Path) -> str:
    """The job's overrides on one line, as the user typed them (a blank inside one stays escaped: the column is
    split on blanks)."""
    lines = (job / ".hydra" / "overrides.yaml").read_text().splitlines()
    return " ".join(as_typed(line.removeprefix("- ").strip()).replace(" ", "\\ ") for line in lines
                    if line.startswith("- "))


def load_jobs(jobs: list[Path]) -> dict[Path, RunResults | None]:
    """Each job's results (None where the job wrote none, or one that cannot be read)."""
    loaded = {}
    for job in jobs:
        try:
            loaded[job] = load_results(job / "results.json")
        except (FileNotFoundError, ValueError):
            loaded[job] = None
    return loaded


def job_rows(job: Path, results: RunResults | None) -> list[dict]:
    base = {"job": job.name, "overrides": job_overrides(job)}
    if results is None:
        return [{**base, "job_status": "failed", "error": "the job wrote no results.json"}]
    base["job_status"] = results.status
    rows = []
    for bench in results.bench:
        check, artifact = results.parity_of(bench.artifact), results.artifact(bench.artifact)
        row = {**base, "artifact": bench.artifact, "runtime": runtimes.label(bench.runtime),
               "precision": bench.precision, "executes_in": bench.executed_precision,
               "size_mb": round(artifact.bytes / 2**20, 3) if artifact else None,
               "sha256": artifact.sha256 if artifact else None, "reused_from": bench.reused_from}
        if bench.ok:
            speedup = results.speedup(bench)
            row.update(median_ms=round(bench.infer_ms.median, 3), p90_ms=round(bench.infer_ms.p90, 3),
                       speedup=round(speedup, 3) if speedup else None, speedup_against=results.reference_label())
        else:
            row["error"] = bench.error
        if check:
            row.update(max_abs_err=check.worst_abs(), min_cosine=check.min_cosine(),
                       parity="passed" if check.passed else "FAILED", task_agreement=check.agreement)
        accuracy = results.accuracy_of(bench.artifact)
        if accuracy:
            row.update(accuracy_metric=accuracy.metric, accuracy=accuracy.value, accuracy_drop=accuracy.drop,
                       accuracy_low=accuracy.low, accuracy_high=accuracy.high)
        rows.append(row)
    failed_steps = [f"{s.name}: {s.error}" for s in results.steps if s.status == "failed"]
    if not rows or failed_steps or results.error:
        rows.append({**base, "error": results.error or "; ".join(failed_steps) or "no benchmark rows"})
    return rows


def build_summary(sweep_dir: Path, jobs: dict[Path, RunResults | None]) -> list[dict]:
    rows = [row for job, results in jobs.items() for row in job_rows(job, results)]
    with open(sweep_dir / "summary.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        writer.writerows({k: row.get(k) for k in FIELDS} for row in rows)
    (sweep_dir / "summary.md").write_text(render_markdown(rows, sweep_dir))
    sweep_plots.plot(rows, sweep_dir, split_overrides(rows)[1])
    return rows


# the columns summary.md and summary.html show (summary.csv has every field)
COLUMNS = ["overrides", "job_status", "runtime", "precision", "executes_in", "median_ms", "speedup",
           "max_abs_err", "min_cosine", "task_agreement", "accuracy", "accuracy_drop", "parity", "size_mb", "error"]
PLOTS = {"latency_by_runtime.png": "latency per runtime and precision (an artifact measured once: one bar)",
         "latency_vs_accuracy.png": "latency against accuracy (agreement with the reference without a truth)"}


def cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.2f}"
    return str(value)


def split_overrides(rows: list[dict]) -> tuple[str, dict[str, str]]:
    """(the overrides every job of the sweep shares, {job: the overrides it varied}): a job is told apart by the
    latter ('-' when it varied none)."""
    tokens = {row["job"]: row.get("overrides", "").split(" ") for row in rows}
    common = set.intersection(*map(set, tokens.values())) if len(tokens) > 1 else set()
    shared = " ".join(t for t in next(iter(tokens.values()), []) if t in common)
    return shared, {job: " ".join(t for t in words if t not in common) or "-" for job, words in tokens.items()}


def intro(rows: list[dict]) -> str:
    jobs = {row["job"] for row in rows}
    failed = {row["job"] for row in rows if row.get("job_status") != "ok"}
    against = sorted({row["speedup_against"] for row in rows if row.get("speedup_against")})
    truth = next((row["accuracy_metric"] for row in rows if row.get("accuracy_metric")), None)
    return (f"{len(jobs)} jobs, {len(failed)} not ok. Latency = median inference ms; speed-up vs "
            f"{' / '.join(against) or 'PyTorch eager'} in the same job."
            + (f" Accuracy: {truth} against the ground truth; drop against the reference, + = worse." if truth else ""))


def render_markdown(rows: list[dict], sweep_dir: Path) -> str:
    lines = [f"# Sweep summary: {sweep_dir}", "", intro(rows), "",
             tabulate([[cell(row.get(c)) for c in COLUMNS] for row in rows], headers=COLUMNS, tablefmt="github",
                      disable_numparse=True)]
    for name, title in PLOTS.items():
        lines += ["", f"![{title}]({name})"]
    lines.append("")
    return "\n".join(lines)
