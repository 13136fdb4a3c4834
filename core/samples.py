"""The layout of the files that hold many calls of a model: inputs.npz, input.data, calibration.npz, a bundle's
samples.npz and the outputs parity records (parity/*.npz).

Every array is [N, *the shape of one call]: the sample axis first, then the model's own shape as fed (rank 0
included), one sample = one call; a stateful model's recorded outputs are [N, steps, *output shape], one stream
of calls per sample. The batch axis of an input is wherever the model has it (axis 1 of a recurrent state).

What judges outputs by item (parity's tensor comparison, task metrics, accuracy against the truth, the deploy
bundle's answers) sees one row per batch element: `per_item` merges the sample (and step) axes with each output's
batch axis. It is the one place that reshapes between the two views.
"""
from __future__ import annotations

import numpy as np


def samples_in(arrays: dict[str, np.ndarray]) -> int:
    """N: the samples (calls) an input set holds."""
    return len(next(iter(arrays.values())))


def call(arrays: dict[str, np.ndarray], index: int) -> dict[str, np.ndarray]:
    """Sample `index` of an input set: one call's inputs."""
    return {name: np.asarray(array[index]) for name, array in arrays.items()}  # a rank-0 input stays an array


def stacked(calls: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Per-call output lists -> one array per output, [N, *output shape]."""
    return [np.stack(parts) for parts in zip(*calls, strict=True)]


def rebatched(samples: np.ndarray, axis: int | None, batch: int) -> np.ndarray:
    """One call's array holding `batch` items along its batch axis `axis`, taken in order (cycled) from the batch
    items of an input set's samples [N, *shape]; an input without a batch axis: the first sample as it is."""
    if axis is None:
        return np.asarray(samples[0])
    items = np.moveaxis(samples, axis + 1, 1)  # [N, B, the other axes]
    items = items.reshape(-1, *items.shape[2:])
    return np.ascontiguousarray(np.moveaxis(items[np.arange(batch) % len(items)], 0, axis))


def output_batch_axes(names: list[str], state: dict[str, str] | None,
                      input_axes: dict[str, int | None]) -> list[int | None]:
    """Each output's batch axis: a state output's is its state input's (a recurrent state [layers, batch, hidden]),
    every other output's is its axis 0 (a rank-0 output has none: per_item sees to that)."""
    state = state or {}
    return [input_axes.get(state[name]) if name in state else 0 for name in names]


def per_item(outputs: list[np.ndarray], batch_axes: list[int | None] | None = None,
             lead: int = 1) -> list[np.ndarray]:
    """Outputs as recorded ([N, *out], or [N, steps, *out] with lead=2) -> one row per batch element: the `lead`
    sample axes merged with each output's batch axis, which comes first ([N, B, ...] -> [N*B, ...]). An output
    without a batch axis gets its sample axes merged only. batch_axes: per output (default: axis 0 of each)."""
    merged = []
    for index, output in enumerate(outputs):
        axis = 0 if batch_axes is None else batch_axes[index]
        if axis is None or output.ndim <= lead + axis:  # no batch axis (or not this one: parity says the shape)
            merged.append(output.reshape(-1, *output.shape[lead:]))
            continue
        moved = np.moveaxis(output, lead + axis, lead)
        merged.append(moved.reshape(-1, *moved.shape[lead + 1:]))
    return merged
