"""results.json, report.md and the table printed at the end of a run."""
from __future__ import annotations

import json
import os
import textwrap
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


def headline(row: dict) -> str:
    """One measurement in a log line."""
    if row.get("mode") == "throughput":
        return f"{row['images_per_s']['median']:.1f} images/s at batch {row['batch']}"
    return f"{row['infer_ms']['median']:.2f} ms median inference"


def table_rows(results: dict) -> list[dict]:
    """One row of cells (strings) per benchmarked artifact; `img/s bN` keys per throughput batch."""
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
        row = dict.fromkeys(k for k, _ in ALL_COLUMNS) | {"artifact": name, "error": error, "task": task,
                                                          "parity": verdict, "size": _mb(sizes.get(name))}
        row = {k: "-" if v is None else v for k, v in row.items()}
        footprint = bench.get("footprint") or (results.get("footprint") or {}).get(bench.get("runtime"), {})
        if footprint:
            row["install"] = f"{footprint['installed_mb']:.0f} ({footprint.get('version')})"
            row["source"] = "no" if footprint.get("runs_without_source") else "yes"
        if bench.get("status") != "ok":
            rows.append({**row, "runtime": RUNTIME_LABEL.get(bench.get("runtime"), bench.get("runtime") or "?"),
                         "infer": "failed"})
            continue
        infer = bench["infer_ms"]
        mark = NOISY_MARK if bench.get("noisy") else ""
        row.update({
            "runtime": RUNTIME_LABEL.get(bench["runtime"], bench["runtime"]),
            "precision": bench.get("executed_precision", "?"), "pre": f"{bench['pre_ms']:.2f}",
            "infer": f"{infer['median']:.2f}{mark}", "p90": f"{infer['p90']:.2f}", "cv": f"{infer['cv']:.1%}",
            "post": f"{bench['post_ms']:.2f}", "cold": _cold(bench), "rss": f"{bench['peak_rss_mb']:.0f}",
            "elsewhere": "-" if bench.get("other_load_cores") is None else f"{bench['other_load_cores']:.2f}",
        })
        for entry in bench.get("throughput") or []:
            row[f"ips{entry['batch']}"] = _ips_cell(entry)
        rows.append(row)
    return rows


NOISY_MARK = "*"


def _mb(value) -> str:
    return "-" if value is None else f"{value / 2**20:.2f}"


def _cold(bench: dict) -> str:
    """Cold start: load/compile + first inference, seconds."""
    if bench.get("compile_s") is None or bench.get("first_infer_s") is None:
        return "-"
    return f"{bench['compile_s']:.2f}+{bench['first_infer_s']:.2f}"


def _ips_cell(entry: dict) -> str:
    if entry.get("status") == "skipped":
        return "skip"
    if entry.get("status") != "ok":
        return "failed"
    return f"{entry['images_per_s']:.1f}{NOISY_MARK if entry.get('noisy') else ''}"


def _task_cell(task: dict | None) -> str:
    """Detection: F1 of matched boxes vs the reference; classification: top-1 agreement."""
    if not task:
        return "-"
    if task["task"] == "detection":
        return f"F1 {task['agreement']:.3f}"
    return f"top-1 {task['agreement']:.0%}"


# (key, header): the terminal shows TEXT_KEYS; report.md shows every column
ALL_COLUMNS = [("runtime", "runtime"), ("artifact", "artifact"), ("precision", "executes in"),
               ("pre", "pre ms"), ("infer", "infer ms"), ("p90", "p90"), ("cv", "cv"), ("post", "post ms"),
               ("ips", "img/s"), ("cold", "cold s"), ("rss", "RSS MB"), ("size", "size MB"),
               ("install", "runtime MB (ver)"), ("source", "needs model source"),
               ("elsewhere", "cores busy elsewhere"),
               ("error", "max abs err vs ref"), ("task", "task agreement"), ("parity", "parity")]
# the terminal keeps what a user compares runtimes on: the pre / infer / post split, p90, parity error and task
# agreement, size, and the deployment figures; cv, settings and the rest are in report.md
TEXT_KEYS = ("runtime", "artifact", "precision", "pre", "infer", "p90", "post", "ips", "cold", "rss", "size",
             "install", "error", "task", "parity")


def _columns(results: dict, keys=None) -> list[tuple[str, str]]:
    """The columns, with `img/s` expanded to one column per throughput batch (or the latency row's img/s)."""
    batches = []
    for bench in results["bench"]:
        for entry in bench.get("throughput") or []:
            if entry["batch"] not in batches:
                batches.append(entry["batch"])
    columns = []
    for key, head in ALL_COLUMNS:
        if keys is not None and key not in keys:
            continue
        if key == "ips":
            columns += [(f"ips{b}", f"img/s b{b}") for b in batches] if batches else [("ips", "img/s")]
        else:
            columns.append((key, head))
    return columns


def _fill_ips(results: dict, rows: list[dict]) -> None:
    """Without bench.batch the img/s column is the latency row's own (input.batch / median)."""
    for bench, row in zip(results["bench"], rows, strict=True):
        if bench.get("status") == "ok" and not bench.get("throughput"):
            row["ips"] = f"{bench['throughput_ips']:.1f}{NOISY_MARK if bench.get('noisy') else ''}"


def footnotes(results: dict) -> list[str]:
    """What the marks and the secondary columns mean, only for what the table shows."""
    notes = []
    bench_cfg = (results.get("config") or {}).get("bench") or {}
    rows = [b for b in results["bench"] if b.get("status") == "ok"]
    entries = [e for b in rows for e in b.get("throughput") or []]
    if any(b.get("noisy") for b in rows) or any(e.get("noisy") for e in entries):
        noisy = [b for b in rows if b.get("noisy")] + [e.get("measurement") or {} for e in entries if e.get("noisy")]
        loads = [m["other_load_cores"] for m in noisy if m.get("other_load_cores") is not None]
        why = f"other processes kept up to {max(loads):.1f} cores busy meanwhile" if loads else "a busy machine?"
        notes.append(f"{NOISY_MARK} noisy: coefficient of variation above bench.noisy_cv={bench_cfg.get('noisy_cv')} "
                     f"({why}); not exact, measure again before trusting a difference")
    batch = results.get("inputs", {}).get("batch", 1)
    notes.append(f"infer ms: median (and p90) of one batch of {batch}, one request at a time; cold s: load/compile + "
                 "first inference; RSS: peak of the runtime's process; runtime MB: installed size of the runtime's "
                 "packages (bench/footprint.py)")
    if entries:
        latency = sorted({e["batch"] for e in entries if e.get("mode") == "latency"})
        throughput = sorted({e["batch"] for e in entries if e.get("mode") == "throughput"})
        parts = [f"{', '.join(f'b{b}' for b in latency)}: one request at a time"] if latency else []
        if throughput:
            parts.append(f"{', '.join(f'b{b}' for b in throughput)}: each runtime's throughput setting (OpenVINO: "
                         "THROUGHPUT hint with its optimal requests in flight; the others: the batch back to back)")
        notes.append("img/s bN: images per second at batch N, inference only; " + "; ".join(parts))
        reasons = sorted({e["reason"] for e in entries if e.get("status") == "skipped"})
        notes += [f"skip: {reason}" for reason in reasons]
    return notes


def render_text(results: dict) -> str:
    rows = table_rows(results)
    _fill_ips(results, rows)
    columns = _columns(results, TEXT_KEYS)
    widths = [max([len(h)] + [len(r.get(k, "-")) for r in rows]) for k, h in columns]
    line = "  ".join(h.ljust(w) for (_, h), w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(r.get(k, "-").ljust(w) for (k, _), w in zip(columns, widths, strict=True)) for r in rows]
    notes = [*footnotes(results), "cv, per-output parity errors, runtime settings: report.md"]
    out += ["", *(textwrap.fill(note, 118, subsequent_indent="  ") for note in notes)]
    return "\n".join(out)


def _settings_lines(results: dict) -> list[str]:
    """What each runtime applied (reported back by the runtime where it can), once per runtime."""
    seen, lines = set(), []
    for bench in results["bench"]:
        if bench.get("status") != "ok" or bench["runtime"] in seen:
            continue
        seen.add(bench["runtime"])
        applied = ", ".join(f"{k}={v}" for k, v in (bench.get("settings") or {}).items())
        lines.append(f"- {RUNTIME_LABEL.get(bench['runtime'], bench['runtime'])} {bench.get('version')}: "
                     f"{applied or '-'}")
        for entry in bench.get("throughput") or []:
            if entry.get("measurement"):
                applied = ", ".join(f"{k}={v}" for k, v in (entry["measurement"].get("settings") or {}).items())
                lines.append(f"  - batch {entry['batch']} ({entry['mode']}): {applied or '-'}")
    return lines


def render_markdown(results: dict) -> str:
    rows = table_rows(results)
    _fill_ips(results, rows)
    columns = _columns(results)
    head = "| " + " | ".join(h for _, h in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(r.get(k, "-") for k, _ in columns) + " |" for r in rows]
    steps = [f"| {s['name']} | {s['kind']} | {s['status']} | {s.get('seconds') or 0:.1f} | "
             f"{s.get('error', '')} |" for s in results["steps"]]
    cpu = results["environment"]["cpu"]
    return "\n".join([
        f"# {results['graph']} graph on {results['model']}: {results['status']}", "",
        f"CPU: {cpu['model']} ({cpu['cores']} cores; {', '.join(cpu['flags'])}); "
        f"precision {results['precision']}, opset {results['opset']}, batch {results['inputs']['batch']}, "
        f"input {results['inputs']['size']}px", "",
        "## Steps", "", "| step | kind | status | seconds | error |", "|---|---|---|---|---|", *steps, "",
        "## Benchmark", "", head, rule, *body, "", *[f"- {n}" for n in footnotes(results)], "",
        "## Runtime settings (as applied)", "", *_settings_lines(results), "",
    ])


def print_table(results: dict) -> None:
    print()
    print(render_text(results))
    print(f"\n{results['graph']} graph, model {results['model']}: {results['status'].upper()} "
          f"-> {results['run_dir']}/results.json")
