"""What a user gets when a job ends: the table, report.md and the timing plot; with +select, the decision
(ship.finish), its table and plot and the deploy bundle; last, report.html showing all of it. Returns the job's
exit code."""
from __future__ import annotations

from pathlib import Path

from pipeline.results import RunResults
from report.html_page import write_run_page
from report.plots import plot_timing
from report.run_report import print_table, write_report
from report.selection_page import publish
from ship.finish import decide_run, record_run, succeeded


def finish_run(results: RunResults, run_dir: Path, select: dict | None = None) -> int:
    """0 only when the run is ok and, with a selection, something was picked and bundled."""
    write_report(results, run_dir)
    picture = plot_timing(results, run_dir / "timing.png")
    print_table(results)
    if picture:
        print(f"pre / inference / post per runtime: {picture}")
    code = 0 if results.status == "ok" else 1
    if select is not None:
        decision = decide_run(results, select, run_dir)
        publish(decision, run_dir)
        record_run(results, decision, run_dir)
        code = max(code, 0 if succeeded(decision) else 1)
    print(f"report: {write_run_page(results, run_dir)}")
    return code
