"""What failed in a recorded run, read from its results.json: the failed step or parity check, the steps that made
the artifact from the nearest ONNX, their options as the run had them, and the inputs to freeze the cuts with."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import UserError
from pipeline.config import SOURCE, STEP_KEYS
from pipeline.results import RunResults
from tools.reduce_check import Case, Step
from validators.parity import Slice, compare


def case_of(results: RunResults, run_dir: Path, artifact: str) -> Case:
    steps = {s.name: s for s in results.steps}
    if artifact not in steps:
        raise UserError(f"{run_dir} has no step {artifact!r}; its steps: {', '.join(steps) or 'none'}")
    record, parity = steps[artifact], results.parity_of(artifact)
    if record.status == "skipped":
        raise UserError(f"{artifact!r} did not run in {run_dir} ({record.error}): reduce the step that failed")
    if record.status == "failed":
        case = Case(artifact, None, [], crash=True, error=record.error or "", node=record.node,
                    op_type=record.op_type)
    elif parity is not None and not parity.passed and parity.error:
        raise UserError(f"the parity check of {artifact!r} did not run ({parity.error}): nothing to compare")
    elif parity is not None and not parity.passed:
        tolerance = {k: v for k, v in (parity.tolerance or {}).items() if k != "slices"}
        if not any(not o.passed for o in parity.outputs):
            raise UserError(f"the parity of {artifact!r} failed on the task agreement only (its tensors passed): "
                            "a subgraph has no task to judge; nothing to reduce")
        divergence = parity.divergence or {}
        case = Case(artifact, None, [], crash=False, node=divergence.get("node"), tolerance=tolerance,
                    slices=_slices(results, parity.tolerance or {}))
    else:
        raise UserError(f"{artifact!r} did not fail in {run_dir} (step {record.status}, parity "
                        f"{'passed' if parity and parity.passed else 'not checked'}): nothing to reduce")
    case.chain, case.source = _chain(results, artifact)
    if not Path(case.source.path).exists():
        raise UserError(f"the ONNX {artifact!r} was converted from ({case.source.name}: {case.source.path}) is gone "
                        "(a cleared conversion cache?): run the conversion again first")
    case.bench = results.config.get("bench") or {}
    if any(s.options.get("precision") == "int8" for s in case.chain):
        case.calibration = run_dir / "calibration.npz"
        if not case.calibration.is_file():
            raise UserError(f"{run_dir} has no calibration.npz, which its int8 step {artifact!r} was calibrated on")
    return case


def _slices(results: RunResults, tolerance: dict) -> dict[str, list[Slice]]:
    """model.slices as the run judged them: an output's parts (channels from the config, each part's tolerance as
    recorded), which apply wherever a candidate keeps that output."""
    declared = (results.config.get("model") or {}).get("slices") or {}
    recorded = tolerance.get("slices") or {}
    return {output: [Slice(name, *part["channels"], recorded[output][name], part.get("axis", 1))
                     for name, part in parts.items() if name in recorded.get(output, {})]
            for output, parts in declared.items()}


def _chain(results: RunResults, artifact: str):
    """The steps from the nearest ONNX artifact up to `artifact` (a TFLite file: its onnx_to_tf step first), each
    with the options the run gave it, and that ONNX artifact."""
    declared = (results.config.get("graph") or {}).get("steps") or {}
    timeout = (results.config.get("steps") or {}).get("timeout_s", 1800)
    chain, name = [], artifact
    while True:
        spec = declared.get(name)
        if spec is None:
            raise UserError(f"{name!r} is not a step of the run's graph: only conversions of an ONNX can be reduced")
        options = {k: v for k, v in spec.items() if k not in STEP_KEYS}  # (its StepInputs: tools/reduce_check.py)
        chain.insert(0, Step(name, spec["kind"], options, float(spec.get("timeout_s") or timeout)))
        parent = spec.get("input", SOURCE)
        source = results.artifact(parent)
        if source is None:
            raise UserError(f"{name!r} converted from {parent!r}, which the run did not record")
        if source.format == "onnx":
            return chain, source
        if parent not in declared:
            raise UserError(f"{artifact!r} was made from a {source.format} model ({parent!r}) with no ONNX on the "
                            "way: only conversions of an ONNX can be reduced")
        name = parent


def pick_batch(results: RunResults, run_dir: Path, case: Case) -> dict[str, np.ndarray]:
    """One call's inputs of the run (inputs.npz holds [N, *shape fed]): the first, or for a parity failure the one
    its recorded outputs fail on worst (RUN_DIR/parity/<artifact>.npz against the reference's, [N, *output])."""
    with np.load(run_dir / "inputs.npz") as data:
        arrays = {name: data[name] for name in data.files}
    index = 0 if case.crash else _worst_call(run_dir, case, len(next(iter(arrays.values()))))
    return {name: a[index] for name, a in arrays.items() if name in {s.name for s in case.source.inputs}}


def _worst_call(run_dir: Path, case: Case, calls: int) -> int:
    """The call whose recorded outputs are furthest off among those that fail."""
    reference, candidate = (_outputs(run_dir / "parity" / f"{n}.npz") for n in (SOURCE, case.artifact))
    if not reference or candidate is None or len(reference) != len(candidate):
        return 0
    worst, at = -1.0, 0
    names = [o.name for o in case.source.outputs]
    if len(names) != len(reference):
        names = [f"output {k}" for k in range(len(reference))]
    for call in range(calls):
        parts = [[o[call] for o in outputs] for outputs in (reference, candidate)]
        report = compare(case.artifact, SOURCE, "", *parts, names, case.tolerance, case.slices)
        error = max((o.max_abs or 0.0 for o in report.outputs), default=0.0)
        if not report.passed and error > worst:
            worst, at = error, call
    return at


def _outputs(path: Path) -> list[np.ndarray] | None:
    if not path.is_file():
        return None
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]
