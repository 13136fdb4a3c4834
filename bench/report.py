"""results.json, report.md and the table printed at the end of a run."""
from __future__ import annotations

import json
import os
from pathlib import Path

RUNTIME_LABEL = {"torch": "PyTorch", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO",
                 "tensorflow": "TensorFlow", "tflite": "TensorFlow Lite"}


def write_results(results: dict, run_dir: Path) -> None:
    """Atomic: a reader never sees half a results.json."""
    tmp = run_dir / "results.json.tmp"
    tmp.write_text(json.dumps(results, indent=2, default=str))
    os.replace(tmp, run_dir / "results.json")
    (run_dir / "report.md").write_text(render_markdown(results))


def record_failure(run_dir: Path, cfg, error: str) -> None:
    """Make sure a job that failed before or outside the pipeline still leaves a results.json saying why."""
    path = run_dir / "results.json"
    try:
        results = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        graph = cfg.get("graph") or {}
        results = {"graph": graph.get("name", "?"), "model": cfg.model.get("name", "?"), "steps": [],
                   "artifacts": [], "parity": [], "bench": []}
    results.update(status="failed", error=error)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / "results.json.tmp"
    tmp.write_text(json.dumps(results, indent=2, default=str))
    os.replace(tmp, path)


def table_rows(results: dict) -> list[dict]:
    parity = {p["artifact"]: p for p in results["parity"]}
    sizes = {a["name"]: a["bytes"] for a in results["artifacts"]}
    rows = []
    for bench in results["bench"]:
        name = bench["artifact"]
        check = parity.get(name)
        task = "-"
        if check is None:
            error, verdict = "-", "reference" if name == "model" else "-"
        else:
            worst = [o["max_abs"] for o in check["outputs"] if o.get("max_abs") is not None]
            error = f"{max(worst):.2e}" if worst else "-"
            verdict = "passed" if check["passed"] else "FAILED"
            task = _task_cell(check.get("task"))
        if bench.get("status") != "ok":
            rows.append({"runtime": "?", "artifact": name, "precision": "-", "pre": "-", "infer": "failed",
                         "p90": "-", "post": "-", "error": error, "task": task, "parity": verdict,
                         "size": _mb(sizes.get(name))})
            continue
        rows.append({
            "runtime": RUNTIME_LABEL.get(bench["runtime"], bench["runtime"]), "artifact": name,
            "precision": bench.get("executed_precision", "?"), "pre": f"{bench['pre_ms']:.2f}",
            "infer": f"{bench['infer_ms']['median']:.2f}", "p90": f"{bench['infer_ms']['p90']:.2f}",
            "post": f"{bench['post_ms']:.2f}", "error": error, "task": task, "parity": verdict,
            "size": _mb(sizes.get(name)),
        })
    return rows


def _task_cell(task: dict | None) -> str:
    """Detection: F1 of matched boxes vs the reference; classification: top-1 agreement."""
    if not task:
        return "-"
    if task["task"] == "detection":
        return f"F1 {task['agreement']:.3f}"
    return f"top-1 {task['agreement']:.0%}"


COLUMNS = [("runtime", "runtime"), ("artifact", "artifact"), ("precision", "executes in"),
           ("pre", "pre ms"), ("infer", "infer ms (median)"), ("p90", "infer p90"), ("post", "post ms"),
           ("error", "max abs err vs ref"), ("task", "task agreement"), ("parity", "parity"), ("size", "size MB")]


def _mb(value) -> str:
    return "-" if value is None else f"{value / 2**20:.2f}"


def render_text(results: dict) -> str:
    rows = table_rows(results)
    widths = [max([len(h)] + [len(r[k]) for r in rows]) for k, h in COLUMNS]
    line = "  ".join(h.ljust(w) for (_, h), w in zip(COLUMNS, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(r[k].ljust(w) for (k, _), w in zip(COLUMNS, widths, strict=True)) for r in rows]
    return "\n".join(out)


def render_markdown(results: dict) -> str:
    rows = table_rows(results)
    head = "| " + " | ".join(h for _, h in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(r[k] for k, _ in COLUMNS) + " |" for r in rows]
    steps = [f"| {s['name']} | {s['kind']} | {s['status']} | {s.get('seconds') or 0:.1f} | "
             f"{s.get('error', '')} |" for s in results["steps"]]
    cpu = results["environment"]["cpu"]
    return "\n".join([
        f"# {results['graph']} graph on {results['model']}: {results['status']}", "",
        f"CPU: {cpu['model']} ({cpu['cores']} cores; {', '.join(cpu['flags'])}); "
        f"precision {results['precision']}, opset {results['opset']}, batch {results['inputs']['batch']}, "
        f"input {results['inputs']['size']}px", "",
        "## Steps", "", "| step | kind | status | seconds | error |", "|---|---|---|---|---|", *steps, "",
        "## Benchmark", "", head, rule, *body, "",
    ])


def print_table(results: dict) -> None:
    print()
    print(render_text(results))
    print(f"\n{results['graph']} graph, model {results['model']}: {results['status'].upper()} "
          f"-> {results['run_dir']}/results.json")
