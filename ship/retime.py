"""Before a latency pick, the contenders timed again side by side.

Benchmark rows are measured one after another, and a sweep's rows in different jobs, minutes apart: on a shared
machine the speed moves in between, as much as the difference a pick is made on. So the eligible candidates
within CONTEND_WITHIN of the fastest are measured again in turn: each with its own benchmark request (the
bench/ARTIFACT.request.json its job ran, the same settings and inputs), select.retime_rounds rounds, the order
rotated every round, under the machine-wide bench lock; a round that other processes disturbed is measured once
more. A contender's figure is the median of its rounds' medians; the pick is made on those.
"""
from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from filelock import FileLock

from bench.worker_protocol import BenchReply, BenchRequest
from core.child_protocol import ProtocolError
from pipeline.child import run_child
from pipeline.decision import Candidate, Decision, Retimed

log = logging.getLogger("convgraph")
CONTEND_WITHIN = 0.2  # of the fastest eligible median: a gap larger than this is not the machine's drift
MAX_CONTENDERS = 4
# a round during which other processes kept this many cores busy is measured once more (bench.timing.OtherLoad)
DISTURBED_CORES = 0.5


def contenders(decision: Decision) -> list[Candidate]:
    """The eligible rows whose median is within CONTEND_WITHIN of the fastest eligible one, fastest first."""
    if decision.objective != "latency" or decision.status != "picked":
        return []
    eligible = [c for c in decision.candidates if not c.failed and c.median_ms is not None]
    fastest = min(c.median_ms for c in eligible)
    close = sorted((c for c in eligible if c.median_ms <= fastest * (1 + CONTEND_WITHIN)), key=lambda c: c.median_ms)
    return close[:MAX_CONTENDERS]


def request_of(row: Candidate, job_dir: Path) -> Path | None:
    """The benchmark request that measured the row: in its job's bench/ folder, or in the job it was reused
    from (a sweep measures an identical artifact once)."""
    for where in ([Path(row.reused_from)] if row.reused_from else []) + [job_dir]:
        path = where / "bench" / f"{row.artifact}.request.json"
        if path.is_file():
            return path
    return None


def retime(rows: list[Candidate], job_dir_of: Callable[[Candidate], Path], work: Path, lock_file: str,
           timeout_s: float, rounds: int) -> list[Retimed]:
    """Each row measured `rounds` times in turn; [] when fewer than two rows can be measured again."""
    requests = {}
    for row in rows:
        path = request_of(row, job_dir_of(row))
        try:
            requests[row.id] = BenchRequest.read(path) if path else None
        except ProtocolError as error:  # from another checkout: measure the others
            log.warning("[select] %s is not timed again: %s", row.id, error)
            requests[row.id] = None
    timed = [row for row in rows if requests[row.id]]
    if len(timed) < 2:
        return []
    work.mkdir(parents=True, exist_ok=True)
    medians: dict[str, list[float]] = {row.id: [] for row in timed}
    loads: dict[str, list[float]] = {row.id: [] for row in timed}
    log.info("[select] %d contenders within %d%% of the fastest, timed again side by side (%d rounds): %s",
             len(timed), round(CONTEND_WITHIN * 100), rounds, ", ".join(r.id for r in timed))
    for turn in range(rounds):
        for row in timed[turn % len(timed):] + timed[:turn % len(timed)]:
            tag = f"{row.id.replace('/', '.')}.r{turn}"
            reply = _measure(requests[row.id], tag, work, lock_file, timeout_s)
            if reply and (reply.other_load_cores or 0.0) > DISTURBED_CORES:
                log.info("[select] %s round %d: other processes kept %.2f cores busy, measured again", row.id,
                         turn + 1, reply.other_load_cores)
                reply = _measure(requests[row.id], f"{tag}.again", work, lock_file, timeout_s) or reply
            if reply:
                medians[row.id].append(reply.infer_ms["median"])
                loads[row.id].append(reply.other_load_cores or 0.0)
    done = [Retimed(id=row.id, row_ms=row.median_ms, rounds_ms=medians[row.id], other_load_cores=loads[row.id],
                    side_by_side_ms=statistics.median(medians[row.id])) for row in timed if medians[row.id]]
    return done if len(done) >= 2 else []


def _measure(request: BenchRequest, tag: str, work: Path, lock_file: str, timeout_s: float) -> BenchReply | None:
    """One round of one contender: its request run again into work/TAG.json, under the bench lock. A round
    already measured with this very request is read, not measured again: `python -m report.sweep` rebuilding a
    sweep's decision from its folder makes the same one."""
    request = replace(request, result=str(work / f"{tag}.json"), profile=False, onnx=None, progress=None)
    asked = work / f"{tag}.request.json"
    if _same_request(asked, request):
        reply = BenchReply.read_if_any(work / f"{tag}.json")
        if reply and reply.infer_ms:
            return reply
    with FileLock(lock_file):
        child = run_child(request, asked, work / f"{tag}.log", timeout_s)
    reply = BenchReply.read_if_any(work / f"{tag}.json")
    if child.failure or reply is None or not reply.infer_ms:
        log.warning("[select] %s failed: %s", tag, child.failure or child.last_line() or "no result")
        return None
    return reply


def with_retimed(rows: list[Candidate], retimed: list[Retimed]) -> list[Candidate]:
    """The rows with the side-by-side medians in place of their own."""
    figure = {r.id: r.side_by_side_ms for r in retimed}
    return [row.model_copy(update={"median_ms": figure[row.id]}) if row.id in figure else row for row in rows]


def retimed_words(retimed: list[Retimed]) -> str:
    """'timed again side by side (3 rounds): a 10.10 ms (row 12.00), b 11.00 ms (row 10.50)'."""
    rounds = max(len(r.rounds_ms) for r in retimed)
    busy = max((load for r in retimed for load in r.other_load_cores), default=0.0)
    disturbed = (f" (other processes kept up to {busy:.2f} cores busy in a round, even measured again)"
                 if busy > DISTURBED_CORES else "")
    return f"timed again side by side ({rounds} rounds){disturbed}: " + ", ".join(
        f"{r.id} {r.side_by_side_ms:.2f} ms (row {r.row_ms:.2f})" for r in retimed)


def _same_request(path: Path, request: BenchRequest) -> bool:
    try:
        return path.is_file() and BenchRequest.read(path) == request
    except ProtocolError:
        return False
