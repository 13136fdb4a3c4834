"""When a sweep ends: summary.csv / summary.md / summary.html / plots over every job, and with +select one
decision across the jobs with its deploy bundle, all in the sweep directory. ship.finish decides, bundles and
records (selection.json); this module is the sweep's end as Hydra and the command line reach it, and renders.

Hydra runs SweepEnd as a callback when a multirun ends; the same can be rebuilt later from the job dirs:

    python -m report.sweep SWEEP_DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

from hydra.experimental.callback import Callback

from report.html_page import write_sweep_page
from report.selection_page import publish
from report.summary import build_summary, job_dirs, load_jobs
from ship.finish import decide_sweep


def finish_sweep(sweep_dir: Path) -> int:
    """Summarise and (with +select) decide; 1 when a job was not ok or the selection found no pick."""
    jobs = load_jobs(job_dirs(sweep_dir))
    rows = build_summary(sweep_dir, jobs)
    bad = len({r["job"] for r in rows if r.get("job_status") != "ok"})
    print(f"\nsweep summary: {sweep_dir / 'summary.md'} ({len(rows)} rows; {bad} job(s) not ok)")
    decision = decide_sweep(sweep_dir, {job.name: results for job, results in jobs.items() if results})
    if decision is not None:
        publish(decision, sweep_dir)
    page = write_sweep_page(sweep_dir, rows, decision, next((r for r in jobs.values() if r), None))
    print(f"sweep page: {page}")
    return 1 if bad or (decision is not None and not decision.succeeded) else 0


class SweepEnd(Callback):
    """Hydra callback: when a multirun ends, summarise (and select across) its jobs in the sweep directory."""

    def on_multirun_end(self, config, **kwargs) -> None:
        # Every job ran and everything is written; the exit code still tells a script (CI) that not all is
        # well, as a single run's does.
        if finish_sweep(Path(config.hydra.sweep.dir)):
            sys.exit(1)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m report.sweep SWEEP_DIR   (a Hydra multirun directory)", file=sys.stderr)
        return 2
    return finish_sweep(Path(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
