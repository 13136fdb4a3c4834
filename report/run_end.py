"""What a user reads when a job ends, rendered from its results: the table, report.md and the timing plot (first),
and report.html (last, so that it shows the decision ship.finish recorded, when there is one). Renders only: the
order of "run ended -> report -> decide -> ship -> report.html" is convert.py's (finish_run)."""
from __future__ import annotations

from pathlib import Path

from pipeline.results import RunResults
from report.html_page import write_run_page
from report.plots import plot_timing
from report.run_report import print_table, write_report


def show_run(results: RunResults, run_dir: Path) -> None:
    """report.md and timing.png in run_dir, the table printed."""
    write_report(results, run_dir)
    picture = plot_timing(results, run_dir / "timing.png")
    print_table(results)
    if picture:
        print(f"pre / inference / post per runtime: {picture}")


def show_page(results: RunResults, run_dir: Path) -> None:
    print(f"report: {write_run_page(results, run_dir)}")
