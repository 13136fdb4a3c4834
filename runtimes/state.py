"""State carried between calls: a streaming model (a recurrent network, a voice-activity detector) returns its
state as outputs and takes it back as inputs on the next call (`model.state={state_out: state_in}`).

runtimes.load wraps a runner in `Stateful` when the settings name a state, so that parity, the benchmark (a live
state fed back between timed calls) and a deploy bundle's predict.py all carry it the same way.
"""
from __future__ import annotations

import numpy as np

from runtimes.base import CallInputs, Runner


class Stateful(Runner):
    """A runner whose state outputs are fed back as its state inputs on its next call. The first call of a stream
    takes the state it is given (the initial state); reset() starts a new stream."""

    requests = 1  # each call needs the state of the one before: one in flight

    def __init__(self, runner: Runner, outputs: list[str], state: dict[str, str]):
        self.runner, self.state = runner, dict(state)
        self.index = {out: outputs.index(out) for out in state}  # outputs come in the reference's order
        self.held: dict[str, np.ndarray] = {}
        self.layouts = runner.layouts
        self.executed_precision, self.runtime, self.version = runner.executed_precision, runner.runtime, runner.version
        self.applied = runner.applied

    def reset(self) -> None:
        self.held = {}

    def __call__(self, inputs: CallInputs) -> list[np.ndarray]:
        outputs = self.runner({**inputs, **self.held})
        self.held = {name: outputs[self.index[out]] for out, name in self.state.items()}
        return outputs

    def info(self) -> dict:
        return {**self.runner.info(), "state": dict(self.state)}


def run_stream(runner: Stateful, calls: list[CallInputs]) -> list[list[np.ndarray]]:
    """One stream: the calls in order from a fresh state (the first call's own state inputs); each call's outputs."""
    runner.reset()
    return [runner(inputs) for inputs in calls]
