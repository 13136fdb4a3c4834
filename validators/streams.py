"""How a stateful model's error grows along its streams of calls: parity of every step on its own.

A stateful model's recorded outputs are [N, steps, *output shape] (one stream per sample, core/samples.py). A
candidate whose state drifts a little each call can match the reference at the first step and fail at the
sixteenth: the step where it first leaves the tolerance and the error at the last step say how it goes.
"""
from __future__ import annotations

import numpy as np

from core.samples import per_item
from validators.parity import compare_output


def stream_parity(reference: list[np.ndarray], candidate: list[np.ndarray], names: list[str], tol: dict,
                  batch_axes: list[int | None] | None = None) -> dict:
    """The fields of pipeline.results.StreamParity: each step's largest absolute error over every stream and
    output, the first step (1-based) where an output leaves the tolerance (compared as the whole run is), the
    error at the last step."""
    streams, steps = reference[0].shape[:2]
    max_abs, first = [], None
    for step in range(steps):
        ref = per_item([output[:, step] for output in reference], batch_axes)
        cand = per_item([output[:, step] for output in candidate], batch_axes)
        judged = [compare_output(name, r, c, tol) for name, r, c in zip(names, ref, cand, strict=True)]
        max_abs.append(max((o.max_abs for o in judged if o.max_abs is not None), default=None))
        if first is None and not all(o.passed for o in judged):
            first = step + 1
    return {"steps": int(steps), "streams": int(streams), "max_abs": max_abs, "first_failing_step": first,
            "last_max_abs": max_abs[-1]}


def describe_stream(stream) -> str:
    """'16 steps, last 3e-06' or '16 steps, past tolerance at step 9, last 0.02' (a StreamParity)."""
    failing = f", past tolerance at step {stream.first_failing_step}" if stream.first_failing_step else ""
    last = "-" if stream.last_max_abs is None else f"{stream.last_max_abs:.1g}"
    return f"{stream.steps} steps{failing}, last {last}"
