"""The run's picture: a stacked bar per benchmarked artifact, preprocess / inference / postprocess (median ms)."""
from __future__ import annotations

from pathlib import Path

import runtimes
from pipeline.results import RunResults


def plot_timing(results: RunResults, path: Path) -> Path | None:
    rows = results.ok_bench()
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{runtimes.label(b.runtime)}\n{b.artifact} ({b.executed_precision})" for b in rows]
    pre = [b.pre_ms for b in rows]
    infer = [b.infer_ms.median for b in rows]
    post = [b.post_ms for b in rows]
    fig, ax = plt.subplots(figsize=(max(6, 1.5 * len(rows)), 4.8))
    ax.bar(labels, pre, label="preprocess", color="#8da0cb")
    ax.bar(labels, infer, bottom=pre, label="inference", color="#fc8d62")
    bars = ax.bar(labels, post, bottom=[a + b for a, b in zip(pre, infer, strict=True)], label="postprocess",
                  color="#66c2a5")
    ax.bar_label(bars, labels=[f"{a + b + c:.1f}" for a, b, c in zip(pre, infer, post, strict=True)], fontsize=8)
    ax.set_ylabel("median ms per batch")
    cpu = results.environment.cpu.model if results.environment else "?"
    ax.set_title(f"{results.model} ({results.graph} graph, batch {results.inputs.batch}) on {cpu}, "
                 f"{rows[0].threads or '?'} threads", fontsize=10)
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
