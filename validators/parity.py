"""Numerical parity of a candidate's outputs against the reference's, on the same inputs.

A shape mismatch is always a failure; values are judged by the tolerance of the artifact's precision.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class OutputParity:
    name: str
    shape: list[int]
    max_abs: float | None = None
    mean_abs: float | None = None
    max_rel: float | None = None
    cosine: float | None = None
    worst_index: list[int] | None = None  # where |cand - ref| exceeds the tolerance the most
    passed: bool = False
    reason: str = ""


@dataclass
class ParityReport:
    artifact: str
    reference: str
    precision: str
    passed: bool
    outputs: list[OutputParity] = field(default_factory=list)

    def failure_line(self) -> str:
        bad = [o for o in self.outputs if not o.passed]
        return "; ".join(f"{self.artifact}: output {o.name!r} {o.reason}" for o in bad)

    def to_dict(self) -> dict:
        return asdict(self)


def compare_output(name: str, ref: np.ndarray, cand: np.ndarray, tol: dict) -> OutputParity:
    if ref.shape != cand.shape:
        return OutputParity(name, list(ref.shape), reason=f"shape {list(cand.shape)} != reference "
                            f"{list(ref.shape)}")
    if exact(ref.dtype):
        return _compare_exact(name, ref, cand)
    ref64, cand64 = ref.astype(np.float64).ravel(), cand.astype(np.float64).ravel()
    diff = np.abs(cand64 - ref64)
    if not np.all(np.isfinite(cand64)):
        return OutputParity(name, list(ref.shape), reason="holds NaN or inf")
    denom = np.linalg.norm(ref64) * np.linalg.norm(cand64)
    cosine = float(ref64 @ cand64 / denom) if denom > 0 else float(np.array_equal(ref64, cand64))
    result = OutputParity(
        name, list(ref.shape), max_abs=float(diff.max(initial=0.0)), mean_abs=float(diff.mean()) if diff.size else 0.0,
        max_rel=float((diff / np.maximum(np.abs(ref64), 1e-6)).max(initial=0.0)), cosine=cosine)
    problems = []
    if tol.get("atol") is not None:
        allowed = tol["atol"] + tol["rtol"] * np.abs(ref64)
        excess = diff - allowed
        worst = int(np.argmax(excess)) if excess.size else 0
        result.worst_index = [int(i) for i in np.unravel_index(worst, ref.shape)] if excess.size else []
        if excess.size and excess[worst] > 0:
            problems.append(f"max abs error {result.max_abs:.3g} at {result.worst_index} (value "
                            f"{cand64[worst]:.6g} vs reference {ref64[worst]:.6g}) exceeds atol "
                            f"{tol['atol']:g} + rtol {tol['rtol']:g}*|ref|")
    if tol.get("cosine") is not None and cosine < tol["cosine"]:
        problems.append(f"cosine {cosine:.6f} < {tol['cosine']}")
    result.passed = not problems
    result.reason = "; ".join(problems)
    return result


def exact(dtype) -> bool:
    """Integer and boolean outputs (indices, counts, masks) must be equal, not close."""
    return np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_)


def _compare_exact(name: str, ref: np.ndarray, cand: np.ndarray) -> OutputParity:
    differ = np.flatnonzero(ref.ravel() != cand.ravel())
    diff = np.abs(cand.astype(np.float64) - ref.astype(np.float64)).ravel()
    result = OutputParity(name, list(ref.shape), max_abs=float(diff.max(initial=0.0)),
                          mean_abs=float(diff.mean()) if diff.size else 0.0, passed=not differ.size)
    if differ.size:
        first = differ[0]
        result.worst_index = [int(i) for i in np.unravel_index(first, ref.shape)]
        result.reason = (f"{differ.size} of {ref.size} values differ ({ref.dtype}: compared exactly), first at "
                         f"{result.worst_index}: {cand.ravel()[first]} vs reference {ref.ravel()[first]}")
    return result


def compare(artifact: str, reference: str, precision: str, ref_outputs: list[np.ndarray],
            cand_outputs: list[np.ndarray], names: list[str], tol: dict) -> ParityReport:
    if len(ref_outputs) != len(cand_outputs):
        out = OutputParity("*", [], reason=f"{len(cand_outputs)} outputs, reference has {len(ref_outputs)}")
        return ParityReport(artifact, reference, precision, False, [out])
    outputs = [compare_output(n, r, c, tol) for n, r, c in zip(names, ref_outputs, cand_outputs, strict=True)]
    return ParityReport(artifact, reference, precision, all(o.passed for o in outputs), outputs)
