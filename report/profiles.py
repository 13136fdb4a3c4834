"""report.md's per-node profiles (bench.profile=true): per runtime its slowest nodes, where the time goes by op
type and by executed precision, and the slowest ONNX nodes side by side across the runtimes (joined on the ONNX
node names each profile row implements, runtimes/profiling.py)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from tabulate import tabulate

import runtimes
from pipeline.results import BenchRow, RunResults

TOP = 10  # nodes listed per runtime, and ONNX nodes in the joined table


def _title(row: BenchRow) -> str:
    return f"{runtimes.label(row.runtime)} `{row.artifact}` ({row.executed_precision or row.precision})"


def _shares(row: BenchRow, key) -> str:
    """'Conv 71.2%, Add 9.8%, ...': the profile's time grouped by key(node), largest first."""
    total = defaultdict(float)
    for node in row.profile.nodes:
        total[key(node)] += node.share
    return ", ".join(f"{name} {share:.1%}" for name, share in sorted(total.items(), key=lambda kv: -kv[1])[:8])


NODE_HEADERS = ["node", "op type", "ms", "share", "executes in", "kernel", "ONNX node(s)"]
INTRO = ("Each runtime's own profiler on a separate instance of the artifact, after the timed loop (the table's "
         "times are the timed loop's; these include the profiler's overhead). `executes in` is the precision "
         "of the kernel: int8 = 8-bit in and out, fp32->int8 a quantize, int8->fp32 a dequantize.")


@dataclass
class RuntimeProfile:
    title: str
    summary: str
    by_op_type: str
    by_precision: str
    rows: list[list[str]]
    note: str | None = None  # how the times were made, where no runtime profiler made them (TFLite)


@dataclass
class Joined:
    intro: str
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Profiles:
    """What report.md and report.html show of the run's profiles."""

    runtimes: list[RuntimeProfile]
    joined: Joined | None
    missing: list[str]  # 'PyTorch `model` (fp32): no profile: why'


def _runtime_profile(row: BenchRow, top: int) -> RuntimeProfile:
    profile = row.profile
    run = f"; one profiled inference {profile.run_ms:.2f} ms" if profile.run_ms is not None else ""
    body = [[n.name if len(n.name) <= 60 else "..." + n.name[-57:], n.op_type, f"{n.ms:.3f}", f"{n.share:.1%}",
             n.precision, n.kernel or "-", ", ".join(n.onnx_nodes[:3]) or "-"] for n in profile.nodes[:top]]
    return RuntimeProfile(_title(row), f"{profile.nodes_ms:.2f} ms per inference in {len(profile.nodes)} executed "
                          f"nodes{run} ({profile.how}, {profile.statistic or 'mean'} of {profile.runs} inferences).",
                          _shares(row, lambda n: n.op_type), _shares(row, lambda n: n.precision), body,
                          profile.note)


def _joined(rows: list[BenchRow], top: int) -> Joined:
    """The first profile's slowest nodes that name ONNX nodes, and what each other runtime spent on the rows
    implementing any of the same ONNX nodes (a fused layer covers several; each row is counted once per line)."""
    reference, others = rows[0], rows[1:]
    lines = []
    for node in [n for n in reference.profile.nodes if n.onnx_nodes][:top]:
        key, cells = set(node.onnx_nodes), [node.onnx_nodes[0], f"{node.ms:.3f} {node.precision}"]
        for other in others:
            hits = [n for n in other.profile.nodes if key & set(n.onnx_nodes)]
            precisions = "/".join(dict.fromkeys(n.precision for n in hits))
            cells.append(f"{sum(n.ms for n in hits):.3f} {precisions}" if hits else "-")
        lines.append(cells)
    headers = ["ONNX node", *(f"{runtimes.label(r.runtime)} {r.artifact} ms" for r in rows)]
    return Joined(f"The slowest nodes of {_title(reference)} and, per other runtime, the time of its nodes that "
                  "implement any of the same ONNX nodes (`-`: none found by name).", headers, lines)


def gather(results: RunResults, top: int = TOP) -> Profiles | None:
    """The run's profiles, or None when it made none (bench.profile was off)."""
    measured = [b for b in results.ok_bench() if b.profile is not None]
    if not measured:
        return None
    profiled = [b for b in measured if b.profile.available and b.profile.nodes]
    return Profiles([_runtime_profile(row, top) for row in profiled],
                    _joined(profiled, top) if len(profiled) > 1 else None,
                    [f"{_title(b)}: no profile: {b.profile.reason or 'the profiler recorded no node'}"
                     for b in measured if b not in profiled])


def profile_section(results: RunResults, top: int = TOP) -> list[str]:
    """report.md's section, or nothing when the run made no profiles."""
    found = gather(results, top)
    if found is None:
        return []

    def table(headers, rows):
        return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)

    lines = ["## Per-node profiles (bench.profile)", "", INTRO, ""]
    for one in found.runtimes:
        lines += [f"### {one.title}", "", one.summary, "", *([f"Note: {one.note}.", ""] if one.note else []),
                  f"- by op type: {one.by_op_type}",
                  f"- by executed precision: {one.by_precision}", "", table(NODE_HEADERS, one.rows), ""]
    if found.joined:
        lines += ["### Across runtimes (joined on ONNX node names)", "", found.joined.intro, "",
                  table(found.joined.headers, found.joined.rows), ""]
    lines += [f"- {line}" for line in found.missing]
    return [*lines, ""]
