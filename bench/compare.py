"""Put runs of the same model made on different machines side by side.

    python -m bench.compare RUN_OR_SWEEP_DIR... [--reference seed-i7-8550u] [--out DIR]

Rows are runtime x precision; each machine gets a column group: pre / inference / post ms (median) and the
speed-up against PyTorch on that same machine (the ratio that travels between machines). Runs of different
models or input sizes are refused. A built-in reference (bench/references/NAME.json) is labelled as published,
not measured here.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.report import RUNTIME_LABEL

REFERENCES = Path(__file__).resolve().parent / "references"


def load_runs(paths: list[str]) -> list[dict]:
    runs = []
    for raw in paths:
        path = Path(raw)
        files = [path] if path.is_file() else sorted(path.rglob("results.json"))
        if not files:
            raise SystemExit(f"error: {raw!r} holds no results.json (give a run or sweep directory)")
        for file in files:
            run = json.loads(file.read_text())
            if run.get("status") == "ok" or run.get("bench"):
                runs.append({**run, "label": machine_label(run, file.parent)})
    return runs


def machine_label(run: dict, folder: Path) -> str:
    env = run.get("environment", {})
    cpu = env.get("cpu", {}).get("model", "?")
    return f"{env.get('host', '?')} ({cpu}, {env.get('cpu', {}).get('cores_available', '?')} cores) {folder.name}"


def reference_run(name: str) -> dict:
    path = REFERENCES / f"{name}.json"
    if not path.is_file():
        known = ", ".join(p.stem for p in REFERENCES.glob("*.json"))
        raise SystemExit(f"error: --reference {name!r} is not known; available: {known}")
    run = json.loads(path.read_text())
    return {**run, "label": f"{run['label']} (published, not measured here)"}


def check_comparable(runs: list[dict]) -> None:
    first = runs[0]
    for run in runs[1:]:
        for what, get in (("model", lambda r: r.get("model")), ("input size", lambda r: r["inputs"]["size"]),
                          ("batch", lambda r: r["inputs"].get("batch", 1))):
            if get(run) != get(first):
                raise SystemExit(f"error: cannot compare: {what} differs ({first['label']}: {get(first)}; "
                                 f"{run['label']}: {get(run)})")


def table(runs: list[dict]) -> tuple[list[tuple[str, str]], dict]:
    """Rows (runtime, precision) and cells[(row, label)] = {pre, infer, post, speedup}."""
    rows, cells = [], {}
    for run in runs:
        ok = [b for b in run.get("bench", []) if b.get("status") == "ok"]
        torch_ms = next((b["infer_ms"]["median"] for b in ok if b["runtime"] == "torch"), None)
        for bench in ok:
            row = (bench["runtime"], bench.get("precision", "fp32"))
            if row not in rows:
                rows.append(row)
            median = bench["infer_ms"]["median"]
            cells[(row, run["label"])] = {"pre": bench["pre_ms"], "infer": median, "post": bench["post_ms"],
                                          "speedup": torch_ms / median if torch_ms else None}
    order = list(RUNTIME_LABEL)
    rows.sort(key=lambda r: (order.index(r[0]) if r[0] in order else 99, r[1]))
    return rows, cells


def render(runs: list[dict], rows, cells) -> str:
    head = ["runtime", "precision"]
    for run in runs:
        head += [f"{run['label']}: pre / infer / post ms", "speed-up vs PyTorch"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        out = [RUNTIME_LABEL.get(row[0], row[0]), row[1]]
        for run in runs:
            cell = cells.get((row, run["label"]))
            if cell:
                speed = f"{cell['speedup']:.2f}x" if cell["speedup"] else "-"
                out += [f"{cell['pre']:.1f} / {cell['infer']:.1f} / {cell['post']:.1f}", speed]
            else:
                out += ["-", "-"]
        lines.append("| " + " | ".join(out) + " |")
    return "\n".join(lines)


def plot(runs: list[dict], rows, cells, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(rows)), 4.5))
    width = 0.8 / len(runs)
    for i, run in enumerate(runs):
        values = [(cells.get((row, run["label"])) or {}).get("speedup") or 0 for row in rows]
        bars = ax.bar(np.arange(len(rows)) + i * width, values, width, label=run["label"])
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(np.arange(len(rows)) + width * (len(runs) - 1) / 2,
                  [f"{RUNTIME_LABEL.get(r[0], r[0])}\n{r[1]}" for r in rows], fontsize=8)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_ylabel("speed-up vs PyTorch on the same machine")
    ax.set_title(f"{runs[0].get('model')} at {runs[0]['inputs']['size']}px: machines side by side")
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
