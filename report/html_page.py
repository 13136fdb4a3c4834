"""report.html for a run and summary.html for a sweep: one self-contained page each, to send or open in a browser.

The pages show what report.md / summary.md show, gathered by the same functions (report.run_report,
report.summary, report.selection_page, report.profiles, report.int8_search), rendered by the Jinja2 templates in
report/templates. Pictures are inlined as base64 PNG and the style and the sorting script are in the page: nothing
is fetched when it is opened.
"""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from pipeline.decision import Decision
from pipeline.results import RunResults
from report import accuracy_table, int8_search, profiles, run_report, selection_page, summary

TEMPLATES = Path(__file__).parent / "templates"
RUN_PAGE, SWEEP_PAGE = "report.html", "summary.html"


def inline_code(text: str) -> Markup:
    """The markdown lines' `name` spans as <code>, everything else escaped."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["code"] = inline_code
    return env


def png_data(path: str | Path | None) -> str | None:
    """A PNG as a data: URI, or None when there is no such picture."""
    if not path or not Path(path).is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _manifest(bundle: str | None) -> dict | None:
    """The deploy bundle's manifest.json (the facts a reader looks for first, and the whole file)."""
    if not bundle or not (Path(bundle) / "manifest.json").is_file():
        return None
    data = json.loads((Path(bundle) / "manifest.json").read_text())
    artifact, runtime = data.get("artifact", {}), data.get("runtime", {})
    facts = [("bundle", bundle), ("created", data.get("created")),
             ("artifact", f"{artifact.get('path')} ({artifact.get('format')}, {artifact.get('precision')})"),
             ("sha256", artifact.get("sha256")),
             ("runtime", f"{runtime.get('name')} {runtime.get('version')}, executes in "
                         f"{runtime.get('executed_precision')}"),
             ("runtime settings", json.dumps(runtime.get("settings"))),
             ("requirements", ", ".join(f"{k}=={v}" for k, v in (data.get("requirements") or {}).items())),
             ("files", ", ".join(data.get("files") or {}))]
    return {"facts": facts, "json": json.dumps(data, indent=2, default=str)}


def selection_context(decision: Decision | None, out_dir: Path) -> dict | None:
    """The selection as report/selection_page.py tabulates it, its plot (drawn in out_dir) inlined, and the
    bundle's manifest."""
    if not decision:
        return None
    heads, rows = selection_page.table(decision)
    constraints = {k: v for k, v in decision.constraints.items() if v is not None}
    return {"objective": decision.objective, "reason": decision.reason, "pick": decision.pick,
            "front": decision.front, "headers": heads, "rows": rows, "constraints": json.dumps(constraints),
            "plot": png_data(out_dir / selection_page.PLOT), "bundle_error": decision.bundle_error,
            "manifest": _manifest(decision.bundle)}


def _header(results: RunResults) -> dict:
    env = results.environment
    return {"title": f"{results.graph} graph on {results.model}: {results.status}", "status": results.status,
            "facts": [("model", results.model), ("graph", results.graph),
                      ("weights", run_report.WEIGHTS_NOTE.get(results.weights or "", results.weights or "?")),
                      ("machine", run_report.machine_line(results) or "?"),
                      ("host", f"{env.host}, {env.os or '?'}, Python {env.python or '?'}" if env else "?"),
                      ("run", run_report.settings_line(results)),
                      ("seconds", f"{results.seconds:.1f}" if results.seconds is not None else "-"),
                      ("run dir", results.run_dir or "?")],
            "error": results.error,
            "versions": sorted((k, v or "-") for k, v in (env.packages if env else {}).items())}


def run_context(results: RunResults, run_dir: Path) -> dict:
    cols = run_report.columns(results)
    plots = [(title, png_data(run_dir / name)) for name, title in
             (("timing.png", "pre / inference / post per runtime (median ms)"),)]
    return {
        "header": _header(results),
        "steps": {"headers": run_report.STEP_HEADERS, "rows": run_report.step_rows(results)},
        "bench": {"headers": [h for _, h in cols],
                  "rows": [[row.get(k, "-") for k, _ in cols] for row in run_report.table_rows(results)],
                  "notes": run_report.footnotes(results)},
        "settings": run_report.settings_lines(results),
        "parity": {"headers": run_report.PARITY_HEADERS, "rows": run_report.parity_rows(results)},
        "tasks": {"headers": run_report.TASK_HEADERS, "rows": run_report.task_rows(results)},
        "accuracy": {"headers": accuracy_table.HEADERS, "rows": accuracy_table.rows(results),
                     "samples": accuracy_table.samples_lines(results)},
        "plots": [(title, data) for title, data in plots if data],
        "selection": selection_context(results.selection, run_dir),
        "low_precision": [{"line": int8_search.summary_line(name, search),
                           "kept": search.get("kept_in_float") or [],
                           "tried": [f"{t['kept']} -> {t['agreement']:.3f}" for t in search.get("tried") or []]}
                          for name, search in int8_search.searches(results)],
        "random_weights": results.weights == "random",
        "low_precision_note": int8_search.no_search_note(results),
        "profiles": profiles.gather(results),
        "profile_intro": profiles.INTRO,
        "node_headers": profiles.NODE_HEADERS,
    }


def write_run_page(results: RunResults, run_dir: Path) -> Path:
    """report.html in the run directory (written last: it shows the selection and the bundle too)."""
    path = run_dir / RUN_PAGE
    path.write_text(_environment().get_template("run.html.j2").render(**run_context(results, run_dir)))
    return path


def write_sweep_page(sweep_dir: Path, rows: list[dict], decision: Decision | None,
                     first: RunResults | None = None) -> Path:
    """summary.html in the sweep directory: the job table, the plots, the selection across the jobs; `first`, a
    job's results, tells the machine and the versions (the jobs of a sweep share them)."""
    jobs = list(dict.fromkeys(row["job"] for row in rows))
    shared, varied = summary.split_overrides(rows)  # what every job shares is said once, above the table
    context = {
        "title": f"Sweep summary: {sweep_dir}", "intro": summary.intro(rows), "shared": shared,
        "headers": ["job", *summary.COLUMNS],
        "rows": [[row["job"], *(varied[row["job"]] if c == "overrides" else summary.cell(row.get(c))
                                for c in summary.COLUMNS)] for row in rows],
        # each job's own page, beside its results (a relative link: the pages travel together or not at all)
        "jobs": [(job, f"{job}/{RUN_PAGE}") for job in jobs if (sweep_dir / job / RUN_PAGE).is_file()],
        "plots": [(title, data) for name, title in summary.PLOTS.items() if (data := png_data(sweep_dir / name))],
        "selection": selection_context(decision, sweep_dir),
        "machine": _header(first) if first else None,
    }
    path = sweep_dir / SWEEP_PAGE
    path.write_text(_environment().get_template("summary.html.j2").render(**context))
    return path
