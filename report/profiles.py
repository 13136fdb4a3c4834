"""report.md's per-node profiles (bench.profile=true): per runtime its slowest nodes, where the time goes by op
type and by executed precision, and the slowest ONNX nodes side by side across the runtimes (joined on the ONNX
node names each profile row implements, runtimes/profiling.py)."""
from __future__ import annotations

from collections import defaultdict

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


def _runtime_section(row: BenchRow, top: int) -> list[str]:
    profile = row.profile
    run = f"; one profiled inference {profile.run_ms:.2f} ms" if profile.run_ms is not None else ""
    body = [[n.name if len(n.name) <= 60 else "..." + n.name[-57:], n.op_type, f"{n.ms:.3f}", f"{n.share:.1%}",
             n.precision, n.kernel or "-", ", ".join(n.onnx_nodes[:3]) or "-"] for n in profile.nodes[:top]]
    return [f"### {_title(row)}", "",
            f"{profile.nodes_ms:.2f} ms per inference in {len(profile.nodes)} executed nodes{run} "
            f"({profile.how}, mean of {profile.runs} inferences).", "",
            f"- by op type: {_shares(row, lambda n: n.op_type)}",
            f"- by executed precision: {_shares(row, lambda n: n.precision)}", "",
            tabulate(body, headers=["node", "op type", "ms", "share", "executes in", "kernel", "ONNX node(s)"],
                     tablefmt="github", disable_numparse=True), ""]


def _joined(rows: list[BenchRow], top: int) -> list[str]:
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
    return ["### Across runtimes (joined on ONNX node names)", "",
            f"The slowest nodes of {_title(reference)} and, per other runtime, the time of its nodes that implement "
            "any of the same ONNX nodes (`-`: none found by name).", "",
            tabulate(lines, headers=headers, tablefmt="github", disable_numparse=True), ""]


def profile_section(results: RunResults, top: int = TOP) -> list[str]:
    """report.md's section, or nothing when the run made no profiles."""
    measured = [b for b in results.ok_bench() if b.profile is not None]
    if not measured:
        return []
    profiled = [b for b in measured if b.profile.available and b.profile.nodes]
    lines = ["## Per-node profiles (bench.profile)", "",
             "Each runtime's own profiler on a separate instance of the artifact, after the timed loop (the table's "
             "times are the timed loop's; these include the profiler's overhead). `executes in` is the precision "
             "of the kernel: int8 = 8-bit in and out, fp32->int8 a quantize, int8->fp32 a dequantize.", ""]
    for row in profiled:
        lines += _runtime_section(row, top)
    if len(profiled) > 1:
        lines += _joined(profiled, top)
    lines += [f"- {_title(b)}: no profile: {b.profile.reason or 'the profiler recorded no node'}"
              for b in measured if b not in profiled]
    return [*lines, ""]
