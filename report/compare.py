"""Put runs of the same model made on different machines side by side.

    python -m report.compare RUN_OR_SWEEP_DIR... [--reference seed-i7-8550u] [--out DIR]

Rows are runtime x precision; each machine gets a column group: pre / inference / post ms (median) and the
speed-up against PyTorch on that same machine (the ratio that travels between machines). Runs of different
models or input sizes are refused. A built-in reference (report/references/NAME.json: published figures, not a
run) is labelled as published, not measured here.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError
from tabulate import tabulate

import runtimes
from pipeline.results import RunResults, load_results

REFERENCES = Path(__file__).resolve().parent / "references"


@dataclass(frozen=True)
class Cell:
    """One runtime x precision on one machine: median milliseconds, and the speed-up against PyTorch there."""

    pre: float
    infer: float
    post: float
    speedup: float | None


@dataclass
class Machine:
    """One run (or a published reference) as compare reads it: who measured, what, and the median figures."""

    label: str
    model: str | None
    size: int | None
    batch: int
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)  # key: (runtime, precision)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PublishedMedian(_Strict):
    median: float


class PublishedRow(_Strict):
    runtime: str
    precision: str = "fp32"
    status: str
    pre_ms: float
    infer_ms: PublishedMedian
    post_ms: float


class PublishedInputs(_Strict):
    size: int
    batch: int = 1


class Published(_Strict):
    """report/references/NAME.json: a published comparison's median figures (not a results.json: no run made it)."""

    label: str
    model: str | None = None
    inputs: PublishedInputs
    bench: list[PublishedRow]


def from_results(results: RunResults, folder: Path) -> Machine:
    env = results.environment
    cpu = env.cpu if env else None
    label = (f"{env.host if env else '?'} ({cpu.model if cpu else '?'}, {cpu.cores_available if cpu else '?'} "
             f"cores) {folder.name}")
    machine = Machine(label, results.model, results.inputs.size, results.inputs.batch)
    for bench in results.ok_bench():
        machine.cells[(bench.runtime, bench.precision or "fp32")] = Cell(
            bench.pre_ms, bench.infer_ms.median, bench.post_ms, results.speedup(bench))
    return machine


def load_runs(paths: list[str]) -> list[Machine]:
    runs = []
    for raw in paths:
        path = Path(raw)
        files = [path] if path.is_file() else sorted(path.rglob("results.json"))
        if not files:
            raise SystemExit(f"error: {raw!r} holds no results.json (give a run or sweep directory)")
        for file in files:
            results = load_results(file)
            if results.status == "ok" or results.bench:
                runs.append(from_results(results, file.parent))
    return runs


def reference_run(name: str) -> Machine:
    """A published comparison: median figures only (bench rows with pre_ms, infer_ms.median, post_ms)."""
    path = REFERENCES / f"{name}.json"
    if not path.is_file():
        known = ", ".join(p.stem for p in REFERENCES.glob("*.json"))
        raise SystemExit(f"error: --reference {name!r} is not known; available: {known}")
    try:
        data = Published.model_validate_json(path.read_text())
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise SystemExit(f"error: {path}: {where}: {first['msg']}") from None
    rows = [b for b in data.bench if b.status == "ok"]
    torch_ms = next((b.infer_ms.median for b in rows if b.runtime == "torch"), None)
    machine = Machine(f"{data.label} (published, not measured here)", data.model, data.inputs.size, data.inputs.batch)
    for b in rows:
        median = b.infer_ms.median
        machine.cells[(b.runtime, b.precision)] = Cell(b.pre_ms, median, b.post_ms,
                                                      torch_ms / median if torch_ms else None)
    return machine


def check_comparable(runs: list[Machine]) -> None:
    first = runs[0]
    for run in runs[1:]:
        for what, get in (("model", lambda r: r.model), ("input size", lambda r: r.size),
                          ("batch", lambda r: r.batch)):
            if get(run) != get(first):
                raise SystemExit(f"error: cannot compare: {what} differs ({first.label}: {get(first)}; "
                                 f"{run.label}: {get(run)})")


def table(runs: list[Machine]) -> tuple[list[tuple[str, str]], dict]:
    """Rows (runtime, precision) and cells[(row, label)]: each machine's Cell of that row."""
    rows = list(dict.fromkeys(key for run in runs for key in run.cells))
    cells = {(key, run.label): cell for run in runs for key, cell in run.cells.items()}
    order = list(runtimes.NAMES)
    rows.sort(key=lambda r: (order.index(r[0]) if r[0] in order else 99, r[1]))
    return rows, cells


def render(runs: list[Machine], rows, cells) -> str:
    head = ["runtime", "precision"]
    for run in runs:
        head += [f"{run.label}: pre / infer / post ms", "speed-up vs PyTorch"]
    body = []
    for row in rows:
        out = [runtimes.label(row[0]), row[1]]
        for run in runs:
            cell = cells.get((row, run.label))
            if cell:
                speed = f"{cell.speedup:.2f}x" if cell.speedup else "-"
                out += [f"{cell.pre:.1f} / {cell.infer:.1f} / {cell.post:.1f}", speed]
            else:
                out += ["-", "-"]
        body.append(out)
    return tabulate(body, headers=head, tablefmt="github", disable_numparse=True)


def plot(runs: list[Machine], rows, cells, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(rows)), 4.5))
    width = 0.8 / len(runs)
    for i, run in enumerate(runs):
        values = [getattr(cells.get((row, run.label)), "speedup", None) or 0 for row in rows]
        bars = ax.bar(np.arange(len(rows)) + i * width, values, width, label=run.label)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(np.arange(len(rows)) + width * (len(runs) - 1) / 2,
                  [f"{runtimes.label(r[0])}\n{r[1]}" for r in rows], fontsize=8)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_ylabel("speed-up vs PyTorch on the same machine")
    ax.set_title(f"{runs[0].model} at {runs[0].size}px: machines side by side")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run or sweep directories (or results.json files)")
    known = ", ".join(p.stem for p in REFERENCES.glob("*.json"))
    parser.add_argument("--reference", help=f"a built-in reference: {known}")
    parser.add_argument("--out", default=".", help="where compare.md and compare.png go")
    args = parser.parse_args(argv)
    runs = load_runs(args.runs)
    if args.reference:
        runs.append(reference_run(args.reference))
    if not runs:
        raise SystemExit("error: no run with benchmark rows to compare")
    check_comparable(runs)
    rows, cells = table(runs)
    text = render(runs, rows, cells)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.md").write_text(text + "\n")
    plot(runs, rows, cells, out / "compare.png")
    print(text)
    print(f"\n{out / 'compare.md'}, {out / 'compare.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
