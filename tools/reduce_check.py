"""Does a candidate fail the way the run did? Convert it with the same step kinds and options, each step in its own
child process (converters.run_step, as the pipeline runs it), and, for a parity failure, run the result with its
runtime (runtimes.infer) and compare it with ONNX Runtime's values (validators.parity, the run's tolerance).

A crash is "the same" when the same step fails with the same kind of error at a node of the same op (when the run
named one); the kind is the exception named in the message, else the message with its names and numbers masked.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import runtimes
from converters.run_step_protocol import StepReply, StepRequest
from converters.step_io.onnx_io import opset_of, tensor_specs
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact, image_layout
from core.feeds import Feed
from pipeline.child import run_child
from runtimes.base import Settings, settings_data
from runtimes.infer_protocol import InferRequest
from tools.subgraph import Cut, Graph
from validators.parity import compare

ERROR_NAME = re.compile(r"\b([A-Z]\w*(?:Error|Exception|Failure|Failed))\b")
MASKS = (re.compile(r"'[^']*'|\"[^\"]*\""), re.compile(r"\d+(\.\d+)?(e[-+]?\d+)?"))


@dataclass
class Step:
    name: str
    kind: str
    options: dict
    timeout_s: float


@dataclass
class Case:
    """What failed in the run, and how to make it again from the ONNX it came from."""

    artifact: str
    source: Artifact  # the ONNX the chain converts from
    chain: list[Step]  # the steps from `source` to the failed artifact (onnx_to_tf + tf_to_tflite for a TFLite file)
    crash: bool  # a step failed; else its parity did
    error: str = ""
    node: str | None = None
    op_type: str | None = None
    tolerance: dict = field(default_factory=dict)  # parity: the run's tolerance of the artifact's precision
    slices: dict = field(default_factory=dict)  # parity: model.slices, for a candidate that keeps such an output
    bench: dict = field(default_factory=dict)  # the run's bench block: the runtime's settings
    calibration: Path | None = None  # int8: the run's calibration samples of the source's inputs

    def kind_of(self, message: str) -> str:
        """The kind of error a message says: the exception it names, 'no converter', else the masked message."""
        if "has no converter for" in message:
            return "no converter"
        found = ERROR_NAME.findall(message.split("): ", 1)[-1])
        if found:
            return found[0]
        for mask in MASKS:
            message = mask.sub("#", message)
        return message

    def describe(self) -> str:
        if self.crash:
            return self.error
        return f"parity of {self.artifact} failed"


@dataclass
class Outcome:
    fails: bool  # the same way as the run
    line: str  # the error line, the parity failure, or why it passes
    converted: bool = True  # conversions ran (counted)
    node: str | None = None
    op_type: str | None = None
    worst_abs: float | None = None
    number: int | None = None  # the candidate's number: its logs are logs/NNN-<step>.log


class Checks:
    """Converts candidates (each once: memoised by node set) and counts the conversions it spent."""

    def __init__(self, case: Case, graph: Graph, values: dict[str, np.ndarray], samples, folder: Path):
        self.case, self.graph, self.values, self.samples, self.folder = case, graph, values, samples, folder
        self.conversions = 0
        self.memo: dict[frozenset, Outcome] = {}
        self.log: list[dict] = []

    def __call__(self, kept) -> Outcome:
        key = frozenset(kept)
        if key not in self.memo:
            self.memo[key] = self._check(self.graph.cut(key), len(self.log))
            outcome = self.memo[key]
            self.log.append({"nodes": len(key), "fails": outcome.fails, "line": outcome.line})
            print(f"  {len(key):4d} node(s): {'FAILS' if outcome.fails else 'passes'}: {outcome.line[:150]}",
                  flush=True)
        return self.memo[key]

    def write(self, cut: Cut, folder: Path) -> tuple[Artifact, Path, Path | None]:
        """The candidate's model.onnx, inputs.npz and (int8) calibration.npz in `folder`, and its artifact."""
        import onnx

        folder.mkdir(parents=True, exist_ok=True)
        model, fed = self.graph.build(cut, self.values)
        path = folder / "model.onnx"
        onnx.save(model, str(path))
        # one call (inputs.npz holds [N, *shape fed], core/samples.py), and each calibration sample a call too
        np.savez(folder / "inputs.npz", **{name: self.values[t][None] for t, name in fed.items()})
        calibration = None
        if self.case.calibration is not None:  # each calibration sample's values of the cut tensors
            calibration = folder / "calibration.npz"
            per_sample = [self.samples(set(fed), i) for i in range(self.samples.count)]
            np.savez(calibration, **{name: np.stack([s[t] for s in per_sample]) for t, name in fed.items()})
        inputs, outputs = tensor_specs(model)
        return (Artifact(name="reduced", format="onnx", path=str(path), inputs=inputs, outputs=outputs,
                         meta={"opset": opset_of(model)}), folder / "inputs.npz", calibration)

    def _check(self, cut: Cut, number: int) -> Outcome:
        if not cut.outputs:
            return Outcome(False, "no outputs: nothing to convert", converted=False)
        work = self.folder / "work" / f"{number:03d}"
        source, inputs, calibration = self.write(cut, work)
        self.conversions += 1
        try:
            outcome = self.run(source, inputs, calibration, work)
            outcome.number = number
            return outcome
        finally:
            for log in work.glob("*.log"):
                shutil.copy(log, self.folder / "logs" / f"{number:03d}-{log.name}")
            shutil.rmtree(work, ignore_errors=True)

    def run(self, source: Artifact, inputs: Path, calibration: Path | None, work: Path) -> Outcome:
        """Convert `source` through the case's steps; a crash or the parity check's verdict."""
        (self.folder / "logs").mkdir(exist_ok=True)
        artifact = source
        feeds = tuple(Feed(s.name, "data", s.shape, s.dtype, image_layout(s.shape, s.dtype)) for s in source.inputs)
        # no accuracy-aware search: it judges by the model's task, which a subgraph has not
        run = StepInputs(feeds=feeds, calibration=str(calibration) if calibration is not None else None)
        for step in self.case.chain:
            answer, failure = self._convert(step, run, artifact, work)
            error = failure or (answer.failure if answer else "wrote no result")
            if error:
                return self._crashed(step, error, answer)
            artifact = answer.artifacts[0]
        if self.case.crash:
            return Outcome(False, f"converts ({artifact.format})")
        return self._parity(artifact, inputs, source, work)

    def _convert(self, step: Step, run: StepInputs, artifact: Artifact, work: Path) -> tuple[StepReply | None, str]:
        out = work / step.name
        out.mkdir(parents=True, exist_ok=True)
        request = StepRequest(kind=step.kind, options=step.options, inputs=run, workdir=str(out),
                              result=str(out / "result.json"), input=artifact)
        child = run_child(request, out / "request.json", work / f"{step.name}.log", step.timeout_s)
        answer = StepReply.read_if_any(out / "result.json")
        if answer and answer.not_applicable is not None:
            return None, f"not applicable: {answer.not_applicable}"
        return answer, child.failure

    def _crashed(self, step: Step, error: str, answer: StepReply | None) -> Outcome:
        node, op = (answer.node, answer.op_type) if answer else (None, None)
        case = self.case
        same = (case.crash and step is case.chain[-1] and case.kind_of(error) == case.kind_of(case.error)
                and (case.op_type is None or op == case.op_type))
        return Outcome(same, f"{step.name} failed: {error}", node=node, op_type=op)

    def _parity(self, artifact: Artifact, inputs: Path, source: Artifact, work: Path) -> Outcome:
        runtime = runtimes.for_format(artifact.format)
        settings = settings_data(self.case.bench, runtime.name, artifact.precision, {}, "latency")
        request = InferRequest(artifact=artifact, settings=Settings(**settings), inputs=str(inputs),
                               outputs=str(work / "outputs.npz"), info=str(work / "info.json"))
        child = run_child(request, work / "infer.json", work / "infer.log", 600)
        if child.failure or not (work / "outputs.npz").exists():
            return Outcome(False, f"{runtime.name} could not run it: {child.failure or child.last_line()}")
        with np.load(work / "outputs.npz") as data:  # [1, *output]: the one call
            outputs = [data[f"arr_{i}"][0] for i in range(len(data.files))]
        with np.load(inputs) as data:
            feed = {name: data[name][0] for name in data.files}
        reference = _reference(source.path, feed)
        report = compare(self.case.artifact, "onnxruntime", artifact.precision, reference, outputs,
                         [o.name for o in source.outputs], self.case.tolerance, self.case.slices)
        worst = max((o.max_abs for o in report.outputs if o.max_abs is not None), default=None)
        if report.passed:
            return Outcome(False, f"parity passes (max abs {worst:.3g})" if worst is not None else "parity passes",
                           worst_abs=worst)
        return Outcome(True, report.failure_line(), worst_abs=worst)


def _reference(path: str, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    """ONNX Runtime's outputs of the candidate on its inputs: the values the cut froze, computed again."""
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, feed)
