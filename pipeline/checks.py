"""The check after every step: the candidate's outputs against the reference's on the same inputs (tensor
parity and the task's agreement; a stateful model's along each stream of calls), and, when it fails, where it
first diverges.

A runtime's outputs run in a child process (runtimes.infer) and are memoised by content: the artifact, the
inputs, the settings, the steps, the runtime's version and the adapter's own code. They are recorded per sample
([N, *output], a stateful model's [N, steps, *output]) and judged per item (core.samples.per_item).
"""
from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import numpy as np

import runtimes
from bench.environment import package_versions
from core.artifact import Artifact
from core.child_protocol import parse
from core.errors import UserError
from core.samples import output_batch_axes, per_item
from pipeline.artifact_graph import ArtifactGraph
from pipeline.cache import ResultMemo, content_key, module_sources
from pipeline.child import run_child
from pipeline.context import RunContext
from pipeline.inputs import PreparedInputs
from pipeline.results import Accuracy, ParityEntry, StreamParity
from runtimes.base import Settings
from runtimes.infer_protocol import InferReply, InferRequest
from validators.accuracy import Scores
from validators.against_truth import accuracy_entry, describe_accuracy, score
from validators.localize_protocol import LocalizeReply, LocalizeRequest
from validators.parity import Slice, compare
from validators.streams import describe_stream, stream_parity
from validators.task_metrics import describe, task_agreement

log = logging.getLogger("convgraph")


class ParityChecks:
    def __init__(self, ctx: RunContext, inputs: PreparedInputs, memo: ResultMemo | None, graph: ArtifactGraph):
        self.ctx, self.inputs, self.inputs_sha, self.memo = ctx, inputs.path, inputs.sha256, memo
        self.graph = graph  # the run's artifacts and their parents (localisation compares with an ONNX ancestor)
        self.truth, self.placement = inputs.truth, inputs.placement
        self.reference: Artifact | None = None
        self.reference_outputs: list[np.ndarray] | None = None
        self.reference_scores: Scores | None = None

    def set_reference(self, artifact: Artifact) -> None:
        self.ctx.progress.check_started(artifact.name)
        outputs, _, error = self.outputs_of(artifact)
        self.ctx.progress.check_ended(artifact.name, "not run" if error else "reference")
        if error:
            raise UserError(f"the reference model could not run: {error}")
        self.reference, self.reference_outputs = artifact, outputs
        if self.truth is not None:
            self.reference_scores = self._score(artifact, self.items(outputs))
            if self.reference_scores is not None:
                self._record_accuracy(artifact, self.reference_scores)

    def outputs_of(self, artifact: Artifact) -> tuple[list[np.ndarray] | None, InferReply, str]:
        """(outputs, runtime facts, '') or (None, an empty reply, why it could not run)."""
        folder = self.ctx.folder("parity")
        out, info = folder / f"{artifact.name}.npz", folder / f"{artifact.name}.json"
        settings = self.ctx.runtime_settings(artifact)
        runtime = runtimes.for_format(artifact.format)
        code = hashlib.sha256(module_sources(runtimes.outputs_code(runtime)).encode()).hexdigest()
        key = content_key("outputs", artifact.sha256, artifact.format, self.inputs_sha, settings, self.steps,
                          package_versions(runtime.packages), code)
        memo = self.memo.get(key) if self.memo else None
        if memo:
            _link(out, memo / "outputs.npz")  # outputs can be tens of MB: one copy, in the memo
            shutil.copyfile(memo / "info.json", info)
        else:
            request = InferRequest(artifact=artifact, settings=parse(Settings, settings, "runtime settings"),
                                   inputs=str(self.inputs), outputs=str(out), info=str(info), steps=self.steps)
            child = run_child(request, folder / f"{artifact.name}.request.json",
                              self.ctx.log_path(f"parity.{artifact.name}"), self.ctx.config.bench.timeout_s)
            reply = InferReply.read_if_any(info)
            if reply and reply.error:  # runtimes.infer's own line: the input, the shape fed and expected
                return None, InferReply(), f"{reply.error} (log: {child.log})"
            if child.failure or not out.exists():
                return None, InferReply(), (f"runtime {child.failure or 'wrote no outputs'}: {child.last_line()} "
                                            f"(log: {child.log})")
            if self.memo:
                named = folder / "outputs.npz", folder / "info.json"
                shutil.copyfile(out, named[0])
                shutil.copyfile(info, named[1])
                self.memo.put(key, list(named), str(self.ctx.run_dir))
                named[0].unlink()
                if self.memo.get(key):
                    _link(out, self.memo.get(key) / "outputs.npz")
        with np.load(out) as data:
            outputs = [data[f"arr_{i}"] for i in range(len(data.files))]
        return outputs, InferReply.read(info), ""

    def judged_as(self, artifact: Artifact) -> str:
        """The precision whose tolerances and floor judge `artifact`: its own, or int8 when the source file was
        already quantized (its integer ops are rounded by each runtime in its own way, at every precision)."""
        quantized = self.reference is not None and self.reference.meta.get("quantized")
        return "int8" if quantized else artifact.precision
    @property
    def steps(self) -> int:
        """Calls per stream of a stateful model (input.steps); 1 for any other."""
        return self.ctx.config.input.steps if self.ctx.state else 1

    def items(self, outputs: list[np.ndarray]) -> list[np.ndarray]:
        """Recorded outputs ([N, (steps,) *output]) as one row per batch element: what parity, task metrics and
        the truth judge."""
        names = [o.name for o in self.reference.outputs]
        return per_item(outputs, output_batch_axes(names, self.ctx.state, self.ctx.batch_axes),
                        lead=2 if self.ctx.state else 1)

    def tolerance(self, precision: str) -> dict:
        """validate.tolerances[precision], with the model's own override (e.g. pixels) on top."""
        override = (self.ctx.config.model.tolerances or {}).get(precision)
        return {**_given(self.ctx.config.validate_.tolerances[precision]), **(_given(override) if override else {})}

    def slices(self, precision: str) -> dict[str, list[Slice]]:
        """model.slices: output -> the parts judged on their own, each with validate.tolerances[precision] and
        the slice's own tolerance for that precision on top."""
        declared = {output: {name: _given(part) for name, part in parts.items()}
                    for output, parts in (self.ctx.config.model.slices or {}).items()}
        base = _given(self.ctx.config.validate_.tolerances[precision])
        return {output: [Slice(name, *part["channels"], {**base, **((part.get("tolerances") or {}).get(precision)
                                                                     or {})}, part.get("axis", 1))
                         for name, part in parts.items()]
                for output, parts in declared.items()}

    def check(self, artifact: Artifact) -> ParityEntry:
        """Compare `artifact` with the reference; the entry is recorded."""
        self.ctx.progress.check_started(artifact.name)
        reference = self.reference
        outputs, info, error = self.outputs_of(artifact)
        judged = self.judged_as(artifact)
        note = None if judged == artifact.precision else (
            f"judged at the {judged} tolerances and floor: the source file is quantized "
            f"({', '.join(self.reference.meta.get('quantization_ops') or [])})")
        tol = self.tolerance(judged)
        if error:
            entry = ParityEntry(artifact=artifact.name, reference=reference.name, precision=artifact.precision,
                                passed=False, error=error)
            log.error("[%s] parity not run: %s", artifact.name, error)
        else:
            slices = self.slices(judged)
            names = [o.name for o in reference.outputs]
            ref_items, items = self.items(self.reference_outputs), self.items(outputs)
            report = compare(artifact.name, reference.name, artifact.precision, ref_items, items, names, tol, slices)
            if slices:
                tol = {**tol, "slices": {out: {p.name: p.tolerance for p in parts} for out, parts in slices.items()}}
            # Task view (same objects / classes found?) through the deploy postprocess; can fail parity too.
            task = task_agreement(ref_items, items, self.ctx.processing,
                                  self.ctx.task_check, judged)
            if task and not task["passed"]:
                task.update(self._floor_waiver(judged))
            passed = report.passed and (task is None or task["passed"] or not task.get("enforced", True))
            entry = ParityEntry(artifact=artifact.name, reference=reference.name, precision=artifact.precision,
                                passed=passed, outputs=report.outputs, tolerance=tol, task=task,
                                executed_precision=info.executed_precision, note=note)
            same = len(outputs) == len(self.reference_outputs) and all(
                r.shape == c.shape for r, c in zip(self.reference_outputs, outputs, strict=True))
            if self.ctx.state and same:
                entry.stream = StreamParity(**stream_parity(
                    self.reference_outputs, outputs, names, self.tolerance(judged),
                    output_batch_axes(names, self.ctx.state, self.ctx.batch_axes)))
            agreement = (f"; {describe(task)}" if task else "") + (f"; {note}" if note else "")
            if entry.stream:
                agreement += f"; stream: {describe_stream(entry.stream)}"
            if task and task.get("waived"):
                agreement += f", below the floor {task['min_agreement']:g} ({task['waived']}): reported, not enforced"
            if passed:
                log.info("[%s] parity passed (max abs %.3g vs %s%s)", artifact.name, entry.worst_abs() or 0.0,
                         reference.name, agreement)
            else:
                log.error("[%s] parity FAILED: %s%s", artifact.name, report.failure_line() or "task agreement "
                          f"below {(task or {}).get('min_agreement')}", agreement)
            if not passed or self.ctx.config.validate_.localize:
                entry.divergence = self.localize(artifact, tol)
            if self.reference_scores is not None:
                scores = self._score(artifact, items)
                if scores is not None:
                    self._record_accuracy(artifact, scores)
        self.ctx.results.parity.append(entry)
        self.ctx.progress.check_ended(artifact.name, "not run" if entry.error else
                                      "passed" if entry.passed else "FAILED")
        return entry

    def _floor_waiver(self, judged: str) -> dict:
        """Where a task floor missed is reported, not enforced: on random weights below fp32 (agreement there says
        nothing of a trained model), and where a truth judges the artifact (its accuracy decides, not agreement
        with the reference: select.max_accuracy_drop)."""
        if self.ctx.results.weights == "random" and judged != "fp32":
            return {"enforced": False, "waived": "random weights"}
        if self.reference_scores is not None:
            return {"enforced": False, "waived": "judged against the truth"}
        return {}

    def _score(self, artifact: Artifact, outputs: list[np.ndarray]) -> Scores | None:
        """The artifact's scores against the truth; None (logged) when its outputs cannot be scored."""
        try:
            return score(outputs, self.truth, self.ctx.processing, self.placement,
                         self.ctx.task_check)
        except (ValueError, UserError) as error:  # e.g. a candidate whose outputs lost their shape: parity says so
            log.error("[%s] accuracy against the truth not measured: %s", artifact.name, error)
            return None

    def _record_accuracy(self, artifact: Artifact, scores: Scores) -> None:
        entry = Accuracy(**accuracy_entry(artifact.name, self.reference.name, self.reference_scores, scores,
                                          seed=self.ctx.config.seed))
        self.ctx.results.accuracy.append(entry)
        log.info("[%s] %s", artifact.name, describe_accuracy(entry))

    def localize(self, artifact: Artifact, tol: dict) -> dict:
        """First node whose output diverges, against the nearest ONNX ancestor (validators.localize)."""
        # the last point known to be right: the nearest ONNX ancestor that passed parity
        source = self.graph.onnx_ancestor(artifact.name, among={p.artifact for p in self.ctx.results.parity
                                                                 if p.passed})
        if source is None:
            return {"found": False, "reason": "no ONNX ancestor that passed parity to compare tensors with"}
        if tol.get("atol") is None:
            return {"found": False, "reason": f"{artifact.precision} has no per-tensor tolerance (judged by cosine)"}
        folder = self.ctx.folder("parity")
        result = folder / f"{artifact.name}.localize.json"
        request = LocalizeRequest(source=source.path, artifact=artifact, inputs=str(self.inputs), atol=tol["atol"],
                                  rtol=tol["rtol"], result=str(result))
        child = run_child(request, folder / f"{artifact.name}.localize.request.json",
                          self.ctx.log_path(f"localize.{artifact.name}"), self.ctx.config.bench.timeout_s)
        why = f"localization {child.failure or 'wrote nothing'}"
        reply = LocalizeReply.read_if_any(result) or LocalizeReply(
            found=False, reason=f"{why}: {child.last_line()}" if child.last_line() else why)
        found = reply.given()
        found["against"] = source.name
        if found.get("found"):
            log.error("[%s] first divergence vs %s: node %r (%s), max abs %.3g", artifact.name, source.name,
                      found["node"], found["op_type"], found["max_abs"])
        return found


def _link(path: Path, target: Path) -> None:
    path.unlink(missing_ok=True)
    path.symlink_to(target)


def _given(part) -> dict:
    """A part of the parsed config as the keys its YAML or command line gave (what a tolerance overrides)."""
    return part.model_dump(by_alias=True, exclude_unset=True)
