"""The run's live view on a terminal (rich): the graph's steps with their status and elapsed time, then the
benchmark of each artifact with a bar over its iterations.

The pipeline reports events to `ctx.progress`. The base class `Progress` ignores them: a run gets it when stdout
is not a terminal, with progress=false, or in a sweep whose jobs run in parallel on one terminal, and its output
is then the log lines alone, exactly as without this module. `LiveView` is the pipeline's only user of rich;
while it runs the log lines still print, above the view.

A benchmark runs in a worker process: the view reads the worker's progress slot (bench/progress_slot.py) each time it
redraws, so the worker never waits on the view.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench import progress_slot as slots
from pipeline.results import StepRecord

# Seconds between redraws. A redraw costs this process ~7 ms of CPU (rich's layout of the tables): while a
# benchmark runs that is load on the cores being timed, so the view redraws once a second then (<1% of a core).
REDRAW_S, REDRAW_WHILE_TIMING_S = 0.25, 1.0
BAR_WIDTH = 30
STYLE = {"pending": "dim", "running": "yellow", "ok": "green", "cached": "green", "reused": "green",
         "passed": "green", "reference": "cyan", "failed": "bold red", "FAILED": "bold red", "not run": "red",
         "skipped": "red", "interrupted": "red", "n/a": "dim"}


class Progress:
    """The run's events. This one ignores them (no live view)."""

    live = False  # does a benchmark worker get a progress slot to write

    def plan(self, steps: list[tuple[str, str]]) -> None:
        """The steps the run will go through, (name, kind), in order."""

    def step_started(self, name: str) -> None:
        pass

    def step_ended(self, record: StepRecord) -> None:
        pass

    def check_started(self, artifact: str) -> None:
        pass

    def check_ended(self, artifact: str, verdict: str) -> None:
        """verdict: passed, FAILED, not run or reference."""

    def bench_started(self, tag: str, what: str, slot: Path | None) -> None:
        pass

    def bench_ended(self, tag: str, status: str, note: str) -> None:
        """status: ok, failed or reused; note: the headline or the error."""

    def close(self) -> None:
        pass


def open_progress(enabled: bool) -> Progress:
    """The live view when asked for (config key `progress`) and stdout is a terminal that this job has alone."""
    if not enabled or not sys.stdout.isatty() or _parallel_jobs():
        return Progress()
    return LiveView()


def _parallel_jobs() -> bool:
    """A multirun on a launcher other than Hydra's sequential one: several jobs would draw on one terminal."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return False
    hydra = HydraConfig.get()
    return hydra.mode == RunMode.MULTIRUN and not str(hydra.launcher.get("_target_", "")).endswith("BasicLauncher")


@dataclass
class _Row:
    what: str  # a step's kind; a benchmark's format and mode
    status: str = "pending"
    started: float | None = None
    seconds: float | None = None
    note: str = ""  # a step's parity verdict; a benchmark's headline or error
    slot: Path | None = None
    last: tuple[str, int, int] | None = None  # the slot's last reading (at "done": the timed samples taken)


class LiveView(Progress):
    live = True

    def __init__(self, start: bool = True):
        """start=False: the state and its drawing only (tests draw it on a console of their own)."""
        from rich.console import Console
        from rich.live import Live

        self.steps: dict[str, _Row] = {}
        self.bench: dict[str, _Row] = {}
        self._lock = threading.Lock()  # events come from the run's thread, redraws from _redraw's
        self._live, self._moved = None, []
        if not start:
            return
        self._live = Live(self, console=Console(), auto_refresh=False, redirect_stdout=True, redirect_stderr=True)
        before = sys.stdout, sys.stderr
        self._live.start(refresh=True)
        self._moved = _point_log_handlers(dict(zip(before, (sys.stdout, sys.stderr), strict=True)))
        self._stop = threading.Event()
        self._redraws = threading.Thread(target=self._redraw, name="progress", daemon=True)
        self._redraws.start()

    def _redraw(self) -> None:
        while not self._stop.wait(REDRAW_WHILE_TIMING_S if self._timing() else REDRAW_S):
            self._live.refresh()

    def _timing(self) -> bool:
        with self._lock:
            return any(row.status == "running" for row in self.bench.values())

    # ---- events -------------------------------------------------------------------------------------------
    def plan(self, steps: list[tuple[str, str]]) -> None:
        with self._lock:
            for name, kind in steps:
                self.steps.setdefault(name, _Row(kind))

    def step_started(self, name: str) -> None:
        with self._lock:
            row = self.steps.setdefault(name, _Row("?"))
            row.status, row.started = "running", time.perf_counter()

    def step_ended(self, record: StepRecord) -> None:
        with self._lock:
            row = self.steps.setdefault(record.name, _Row(record.kind))
            row.status, row.seconds = record.status, record.seconds
            if record.status in ("n/a", "skipped", "failed"):
                row.note = (record.reason or record.error or "")[:60]

    def check_started(self, artifact: str) -> None:
        with self._lock:
            if artifact in self.steps:
                self.steps[artifact].note = "checking"

    def check_ended(self, artifact: str, verdict: str) -> None:
        with self._lock:
            if artifact in self.steps:
                self.steps[artifact].note = verdict

    def bench_started(self, tag: str, what: str, slot: Path | None) -> None:
        with self._lock:
            self.bench[tag] = _Row(what, "running", time.perf_counter(), slot=slot)

    def bench_ended(self, tag: str, status: str, note: str) -> None:
        with self._lock:
            row = self.bench.setdefault(tag, _Row(""))
            _read_slot(row)
            if row.started is not None:
                row.seconds = time.perf_counter() - row.started
            row.status, row.note, row.slot = status, note, None

    def close(self) -> None:
        with self._lock:
            for row in [*self.steps.values(), *self.bench.values()]:  # interrupted: what ran did not finish
                if row.status == "running":
                    row.status = "interrupted"
        if self._live is None:
            return
        self._stop.set()
        self._redraws.join()
        self._live.refresh()
        self._live.stop()
        for handler, stream in self._moved:
            handler.setStream(stream)

    # ---- drawing (rich calls this from its refresh thread) --------------------------------------------------
    def __rich__(self):
        from rich.console import Group

        with self._lock:
            now = time.perf_counter()
            parts = [self._steps_table(now)]
            if self.bench:
                parts.append(self._bench_table(now))
        return Group(*parts)

    def _steps_table(self, now: float):
        from rich.table import Table

        table = Table(box=None, pad_edge=False, title="steps", title_justify="left", title_style="bold")
        for column in ("step", "kind", "status", "time", "parity"):
            table.add_column(column, justify="right" if column == "time" else "left")
        for name, row in self.steps.items():
            table.add_row(name, row.what, _styled(row.status), _elapsed(row, now), _styled(row.note))
        return table

    def _bench_table(self, now: float):
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        table = Table(box=None, pad_edge=False, title="benchmarks", title_justify="left", title_style="bold")
        for column in ("artifact", "measures", "phase", "iterations", "", "time", "result"):
            table.add_column(column, justify="right" if column in ("", "time") else "left")
        for tag, row in self.bench.items():
            _read_slot(row)
            phase, done, total = row.last or ("loading", 0, 0)
            if row.status != "running":
                phase, (done, total) = row.status, (row.last[1:] if row.last and row.last[0] == "done" else (0, 0))
            bar = ProgressBar(total=max(total, 1), completed=done if total else 0, width=BAR_WIDTH) \
                if total or row.status == "running" else ""
            count = f"{done}/{total}" + (" timed" if row.status != "running" else "") if total else ""
            table.add_row(tag, row.what, _styled(phase), bar, count,
                          _elapsed(row, now), _styled(row.note) if row.status == "failed" else row.note)
        return table


def _read_slot(row: _Row) -> None:
    if row.slot is None:
        return
    row.last = slots.read(row.slot) or row.last


def _styled(text: str):
    from rich.text import Text

    return Text(text, style=STYLE.get(text, ""))


def _elapsed(row: _Row, now: float) -> str:
    if row.status == "running" and row.started is not None:
        return f"{now - row.started:.1f}s"
    return f"{row.seconds:.1f}s" if row.seconds else ""


def _point_log_handlers(moved: dict) -> list[tuple[logging.StreamHandler, object]]:
    """Log handlers keep the stream they were made with (Hydra's console handler: the real stdout): point those
    at rich's proxies so that log lines print above the view instead of through it. -> what to restore."""
    loggers = [logging.getLogger(), *(lg for lg in logging.Logger.manager.loggerDict.values()
                                      if isinstance(lg, logging.Logger))]
    restore = []
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in moved:
                restore.append((handler, handler.setStream(moved[handler.stream])))
    return restore
