"""Compute one artifact's outputs on an input set in this (child) process: `python -m runtimes.infer REQUEST.json`.

Each runtime runs in its own process (TensorFlow next to torch crashed here). Reads the named inputs (in the
reference's layout, [N, *shape fed]: one call per sample, core/samples.py) from an .npz, writes the outputs to an
.npz (arr_0, arr_1, ... in the reference's order, [N, *output shape]; a stateful model's [N, steps, *output
shape]) and runtime facts to a JSON (request and reply: runtimes/infer_protocol.py). Inputs the model cannot take
end it with one line naming the input, the shape fed and the shape the model expects, in the log and the reply's
`error` (the pipeline shows that line, not a traceback).
"""
from __future__ import annotations

import re
import sys
import traceback
from pathlib import Path

import numpy as np

from core.artifact import Artifact
from core.child_exit import exit_now
from core.child_protocol import ProtocolError, parse
from core.samples import call, samples_in, stacked
from runtimes import load
from runtimes.base import Runner, for_runner
from runtimes.infer_protocol import InferReply, InferRequest
from runtimes.state import Stateful, run_stream

# onnxruntime: "Got invalid dimensions for input: state for the following indices\n index: 0 Got: 8 Expected: 2"
ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")
ORT_DIMENSIONS = re.compile(r"invalid dimensions for input: (\S+) .*?index: (\d+) Got: (\d+) Expected: (\d+)", re.S)


def run_all(runner: Runner, inputs: dict[str, np.ndarray], steps: int = 1) -> list[np.ndarray]:
    """Every sample through the runner, one call each: [N, *output shape]. A stateful runner runs one stream per
    sample instead: `steps` calls, the first with sample i's own state, then the inputs of samples i+1, i+2, ...
    (cycled) with the state the call before returned: [N, steps, *output shape]."""
    count = samples_in(inputs)
    if not isinstance(runner, Stateful):
        return stacked([runner(for_runner(runner, call(inputs, i))) for i in range(count)])
    streams = [stacked(run_stream(runner, [for_runner(runner, call(inputs, (i + step) % count))
                                           for step in range(steps)]))
               for i in range(count)]
    return stacked(streams)


def shown(shape) -> str:
    return "[" + ", ".join("?" if d < 0 else str(d) for d in shape) + "]"


def misfit(artifact: Artifact, inputs: dict[str, np.ndarray]) -> str:
    """'' when every input, as one call feeds it, fits the shape the artifact declares; else one line saying which
    does not."""
    for spec in artifact.inputs:
        if spec.name not in inputs:
            return f"the inputs hold no {spec.name!r} (they have {', '.join(inputs)})"
        fed = list(inputs[spec.name].shape[1:])
        if len(fed) != len(spec.shape) or any(0 < d != f for d, f in zip(spec.shape, fed, strict=False)):
            return f"input {spec.name!r} is fed {fed}; {artifact.name} expects {shown(spec.shape)}"
    return ""


def failure_line(artifact: Artifact, inputs: dict[str, np.ndarray], error: Exception) -> str:
    """One line for a runtime that refused the inputs: the input, the shape fed and what the runtime expected
    where its error says (onnxruntime does), else its first line and every input's shape as fed."""
    text = str(error)
    found = ORT_DIMENSIONS.search(text)
    if found and found.group(1) in inputs:
        name, axis, got, expected = found.groups()
        return (f"input {name!r} is fed {list(inputs[name].shape[1:])}; {artifact.name} expects {expected} at axis "
                f"{axis}, not {got} (onnxruntime)")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    fed = ", ".join(f"{name} {list(value.shape[1:])}" for name, value in inputs.items())
    return f"inputs fed as {fed}: {type(error).__name__}: {ORT_PREFIX.sub('', first)}"


def main(request_path: str) -> int:
    try:
        request = InferRequest.read(request_path)
    except ProtocolError as error:  # no reply: the request does not say where, for certain
        print(f"error: {error}", file=sys.stderr)
        return 2
    artifact, reply = request.artifact, Path(request.info)
    with np.load(request.inputs) as data:
        inputs = {name: data[name] for name in data.files}
    problem = misfit(artifact, inputs)
    if problem:
        return refused(problem, reply)
    inputs = {spec.name: inputs[spec.name] for spec in artifact.inputs}
    runner = load(artifact, request.settings)
    try:
        outputs = run_all(runner, inputs, request.steps)
    except Exception as error:  # the traceback stays in the log; the last line says it for a person
        traceback.print_exc()
        return refused(failure_line(artifact, inputs, error), reply)
    np.savez(request.outputs, *outputs)
    parse(InferReply, runner.info(), "Runner.info()").write(reply)
    return 0


def refused(problem: str, reply: Path) -> int:
    """Inputs the runtime cannot take: the reply and the log's last line say which."""
    print(f"error: {problem}", file=sys.stderr)
    InferReply(error=problem).write(reply)
    return 2


if __name__ == "__main__":
    exit_now(main(sys.argv[1]))
