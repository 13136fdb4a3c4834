"""One run as people read it: the table printed at the end, report.md beside results.json, the timing plot."""
from __future__ import annotations

import textwrap
from pathlib import Path

from tabulate import tabulate

import runtimes
from pipeline.results import BenchRow, RunResults, TaskAgreement, ThroughputEntry
from report import accuracy_table, decoded, int8_search
from report.profiles import profile_section
from validators.streams import describe_stream

NOISY_MARK = "*"
# (key, header): the terminal shows TEXT_KEYS; report.md shows every column
ALL_COLUMNS = [("runtime", "runtime"), ("artifact", "artifact"), ("precision", "executes in"),
               ("pre", "pre ms"), ("infer", "infer ms"), ("p90", "p90"), ("cv", "cv"), ("post", "post ms"),
               ("ips", "img/s"), ("cold", "cold s"), ("rss", "RSS MB"), ("size", "size MB"),
               ("install", "runtime MB (ver)"), ("source", "needs model source"),
               ("elsewhere", "cores busy elsewhere"),
               ("error", "max abs err vs ref"), ("task", "task agreement"), ("accuracy", "accuracy (drop)"),
               ("parity", "parity")]
# the terminal keeps what a user compares runtimes on: the pre / infer / post split, p90, parity error and task
# agreement, size, and the deployment figures; cv, settings and the rest are in report.md
TEXT_KEYS = ("runtime", "artifact", "precision", "pre", "infer", "p90", "post", "ips", "cold", "rss", "size",
             "install", "error", "task", "accuracy", "parity")


def task_cell(task: TaskAgreement | None) -> str:
    """Detection: F1 of matched boxes vs the reference; classification: top-1 agreement; sequence: the share of
    strings read the same and their CER (without a decoder: of steps with the same class)."""
    if task is None:
        return "-"
    below = f" below floor ({task.waived})" if task.waived else ""
    if task.task == "detection":
        return f"F1 {task.agreement:.3f}{below}"
    if task.task == "segmentation":
        return f"mIoU {task.agreement:.3f}{below}"
    if task.task == "sequence":
        cer = getattr(task, "cer", None)
        if cer is None:
            return f"steps {task.agreement:.0%}{below}"
        return f"strings {task.agreement:.0%}, CER {cer:.3f}{below}"
    return f"top-1 {task.agreement:.0%}{below}"


def _mb(value) -> str:
    return "-" if value is None else f"{value / 2**20:.2f}"


def _cold(row: BenchRow) -> str:
    """Cold start: load/compile + first inference, seconds."""
    if row.compile_s is None or row.first_infer_s is None:
        return "-"
    return f"{row.compile_s:.2f}+{row.first_infer_s:.2f}"


def _ips_cell(entry: ThroughputEntry) -> str:
    if entry.status == "skipped":
        return "skip"
    if entry.status != "ok":
        return "failed"
    return f"{entry.images_per_s:.1f}{NOISY_MARK if entry.noisy else ''}"


def table_rows(results: RunResults) -> list[dict]:
    """One row of cells (strings) per benchmarked artifact; `ipsN` keys per throughput batch."""
    rows = []
    for bench in results.bench:
        check = results.parity_of(bench.artifact)
        artifact = results.artifact(bench.artifact)
        row = dict.fromkeys((k for k, _ in ALL_COLUMNS), "-")
        row.update(artifact=bench.artifact, size=_mb(artifact.bytes if artifact else None),
                   runtime=runtimes.label(bench.runtime),
                   accuracy=accuracy_table.cell(results.accuracy_of(bench.artifact)))
        if check is None:
            row["parity"] = "reference" if bench.artifact == "model" else "-"
        else:
            worst = check.worst_abs()
            verdict = "passed" if check.passed else "FAILED"
            row.update(error="-" if worst is None else f"{worst:.2e}", task=task_cell(check.task),
                       parity=f"{verdict} ({describe_stream(check.stream)})" if check.stream else verdict)
        footprint = results.footprint_of(bench)
        if footprint:
            row["install"] = f"{footprint.installed_mb:.0f} ({footprint.version})"
            row["source"] = "no" if footprint.runs_without_source else "yes"
        if not bench.ok:
            rows.append({**row, "infer": "failed"})
            continue
        infer, mark = bench.infer_ms, NOISY_MARK if bench.noisy else ""
        row.update(precision=bench.executed_precision or "?", pre=f"{bench.pre_ms:.2f}",
                   infer=f"{infer.median:.2f}{mark}", p90=f"{infer.p90:.2f}", cv=f"{infer.cv:.1%}",
                   post=f"{bench.post_ms:.2f}", cold=_cold(bench), rss=f"{bench.peak_rss_mb:.0f}",
                   elsewhere="-" if bench.other_load_cores is None else f"{bench.other_load_cores:.2f}")
        if bench.throughput:
            row.update({f"ips{e.batch}": _ips_cell(e) for e in bench.throughput})
        else:  # without bench.batch the img/s column is the latency row's own (input.batch / median)
            row["ips"] = f"{bench.throughput_ips:.1f}{mark}"
        rows.append(row)
    return rows


def columns(results: RunResults, keys=None) -> list[tuple[str, str]]:
    """The columns, with `img/s` expanded to one column per throughput batch (or the latency row's img/s); the
    accuracy column only where there is a truth to measure it against."""
    batches = list(dict.fromkeys(e.batch for b in results.bench for e in b.throughput or []))
    out = []
    for key, head in ALL_COLUMNS:
        if (keys is not None and key not in keys) or (key == "accuracy" and not results.accuracy):
            continue
        if key == "ips":
            out += [(f"ips{b}", f"img/s b{b}") for b in batches] if batches else [("ips", "img/s")]
        else:
            out.append((key, head))
    return out


def footnotes(results: RunResults) -> list[str]:
    """What the marks and the secondary columns mean, only for what the table shows."""
    notes = []
    noisy_cv = (results.config.get("bench") or {}).get("noisy_cv")
    rows = results.ok_bench()
    entries = [e for b in rows for e in b.throughput or []]
    noisy = [b for b in rows if b.noisy] + [e.measurement for e in entries if e.noisy and e.measurement]
    if noisy or any(e.noisy for e in entries):
        loads = [m.other_load_cores for m in noisy if m.other_load_cores is not None]
        why = f"other processes kept up to {max(loads):.1f} cores busy meanwhile" if loads else "a busy machine?"
        notes.append(f"{NOISY_MARK} noisy: coefficient of variation above bench.noisy_cv={noisy_cv} "
                     f"({why}); not exact, measure again before trusting a difference")
    if accuracy_table.footnote(results):
        notes.append(accuracy_table.footnote(results))
    if results.weights == "random":
        notes.append("weights random (built from the architecture with the seed; no hub here): the agreement "
                     "columns compare runtimes on these weights, and at low precision they are not evidence for a "
                     "trained model (give model.weights, or a model file with its own)")
    notes.append(f"infer ms: median (and p90) of one batch of {results.inputs.batch}, one request at a time; "
                 "cold s: load/compile + first inference; RSS: peak of the runtime's process; runtime MB: installed "
                 "size of the runtime's packages (bench/footprint.py)")
    if entries:
        latency = sorted({e.batch for e in entries if e.mode == "latency"})
        throughput = sorted({e.batch for e in entries if e.mode == "throughput"})
        parts = [f"{', '.join(f'b{b}' for b in latency)}: one request at a time"] if latency else []
        if throughput:
            parts.append(f"{', '.join(f'b{b}' for b in throughput)}: each runtime's throughput setting (OpenVINO: "
                         "THROUGHPUT hint with its optimal requests in flight; the others: the batch back to back)")
        notes.append("img/s bN: images per second at batch N, inference only; " + "; ".join(parts))
        notes += [f"skip: {reason}" for reason in sorted({e.reason for e in entries if e.status == "skipped"})]
    return notes


def _table(results: RunResults, keys, fmt: str) -> str:
    cols = columns(results, keys)
    body = [[row.get(k, "-") for k, _ in cols] for row in table_rows(results)]
    return tabulate(body, headers=[h for _, h in cols], tablefmt=fmt, disable_numparse=True)


def render_text(results: RunResults) -> str:
    notes = [*footnotes(results), "cv, per-output parity errors, runtime settings: report.md and report.html"]
    return "\n".join([_table(results, TEXT_KEYS, "simple"), "",
                      *(textwrap.fill(note, 118, subsequent_indent="  ") for note in notes)])


def settings_lines(results: RunResults) -> list[str]:
    """What each runtime applied (reported back by the runtime where it can), once per runtime."""
    seen, lines = set(), []
    for bench in results.ok_bench():
        if bench.runtime in seen:
            continue
        seen.add(bench.runtime)
        applied = ", ".join(f"{k}={v}" for k, v in (bench.settings or {}).items())
        lines.append(f"- {runtimes.label(bench.runtime)} {bench.version}: {applied or '-'}")
        for entry in bench.throughput or []:
            if entry.measurement:
                applied = ", ".join(f"{k}={v}" for k, v in (entry.measurement.settings or {}).items())
                lines.append(f"  - batch {entry.batch} ({entry.mode}): {applied or '-'}")
    for bench in results.ok_bench():  # bench.tune: each artifact's own search
        if bench.tuned:
            tried = "; ".join(f"{_override(t.override)} {'-' if t.median_ms is None else f'{t.median_ms:.2f} ms'}"
                              for t in bench.tuned.trials)
            lines.append(f"- `{bench.artifact}` tuned (bench.tune), measured with "
                         f"{_override(bench.tuned.chosen)}: {tried}")
    return lines


def _override(override: dict) -> str:
    """A bench.tune candidate for people: 'as configured', 'threads=1', 'xnnpack=False'."""
    flat = {**({"threads": override["threads"]} if "threads" in override else {}), **(override.get("options") or {})}
    return ", ".join(f"{k}={v}" for k, v in flat.items()) or "as configured"


# ---- what report.md and report.html both show, gathered once -------------------------------------------------
STEP_HEADERS = ["step", "kind", "status", "seconds", "error / reason"]
PARITY_HEADERS = ["artifact", "precision", "output", "shape", "max abs", "mean abs", "max rel", "cosine", "check",
                  "why not"]
WEIGHTS_NOTE = {
    "random": "random: built from the architecture with the seed (no hub here)",
    "loaded": "loaded from model.weights",
    "file": "the model file's own",
}


def machine_line(results: RunResults) -> str:
    cpu = results.environment.cpu if results.environment else None
    return f"CPU: {cpu.model} ({cpu.cores} cores; {', '.join(cpu.flags)})" if cpu else ""


def settings_line(results: RunResults) -> str:
    return (f"precision {results.precision}, opset {results.opset}, batch {results.inputs.batch}, "
            f"input {results.inputs.size}px")


def step_rows(results: RunResults) -> list[list[str]]:
    return [[s.name, s.kind, s.status, f"{s.seconds or 0:.1f}", s.error or s.reason or ""] for s in results.steps]


def _fig(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def parity_rows(results: RunResults) -> list[list[str]]:
    """One row per output of every checked artifact (per slice where the model declares them: `name[slice]`)."""
    rows = []
    for check in results.parity:
        if check.error and not check.outputs:
            rows.append([check.artifact, check.precision, "-", "-", "-", "-", "-", "-", "FAILED", check.error])
        for out in check.outputs:
            rows.append([check.artifact, check.precision, out.name, "x".join(map(str, out.shape)) or "-",
                         _fig(out.max_abs, ".2e"), _fig(out.mean_abs, ".2e"), _fig(out.max_rel, ".2e"),
                         _fig(out.cosine, ".6f"), "passed" if out.passed else "FAILED", out.reason or ""])
    return rows


def task_rows(results: RunResults) -> list[list[str]]:
    """Per checked artifact: its task agreement with the reference and the floor it is held to."""
    return [[p.artifact, p.precision, task_cell(p.task), _fig(p.task.min_agreement, "g"),
             "passed" if p.task.passed else "FAILED"] for p in results.parity if p.task is not None]


TASK_HEADERS = ["artifact", "precision", "task agreement", "floor", "task check"]
STREAM_HEADERS = ["artifact", "precision", "streams x steps", "first step past tolerance", "max abs at step 1",
                  "at the last step", "every step"]


def stream_rows(results: RunResults) -> list[list[str]]:
    """A stateful model's parity along its streams: where the error leaves the tolerance and how it grows."""
    rows = []
    for p in results.parity:
        if p.stream is None:
            continue
        errors = p.stream.max_abs
        rows.append([p.artifact, p.precision, f"{p.stream.streams} x {p.stream.steps}",
                     str(p.stream.first_failing_step or "-"), _fig(errors[0] if errors else None, ".2e"),
                     _fig(p.stream.last_max_abs, ".2e"), " ".join(_fig(e, ".1e") for e in errors)])
    return rows


def render_markdown(results: RunResults) -> str:
    def table(headers, rows):
        return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)

    machine = machine_line(results)
    notes = [f"- {p.artifact}: {p.note}" for p in results.parity if p.note]
    parity = ["## Parity per output", "", table(PARITY_HEADERS, parity_rows(results)), "",
              *([*notes, ""] if notes else [])] if results.parity else []
    tasks, streams = task_rows(results), stream_rows(results)
    stream = ["Along the streams (each sample's stream: input.steps calls, the state fed back):", "",
              table(STREAM_HEADERS, streams), ""] if streams else []
    return "\n".join([
        f"# {results.graph} graph on {results.model}: {results.status}", "",
        f"{machine + '; ' if machine else ''}{settings_line(results)}", "",
        "## Steps", "", table(STEP_HEADERS, step_rows(results)), "",
        "## Benchmark", "", _table(results, None, "github"), "", *[f"- {n}" for n in footnotes(results)], "",
        *parity, *stream, *(["Task agreement:", "", table(TASK_HEADERS, tasks), ""] if tasks else []),
        *decoded.markdown(results),
        *accuracy_table.markdown(results),
        "## Runtime settings (as applied)", "", *settings_lines(results), "",
        *int8_search.markdown(results),
        *profile_section(results),
    ])


def write_report(results: RunResults, run_dir: Path) -> Path:
    path = run_dir / "report.md"
    path.write_text(render_markdown(results))
    return path


def print_table(results: RunResults) -> None:
    print()
    print(render_text(results))
    for name, search in int8_search.searches(results):
        print(f"accuracy-aware int8, {int8_search.summary_line(name, search)}")
    print(f"\n{results.graph} graph, model {results.model}: {results.status.upper()} "
          f"-> {results.run_dir}/results.json")
