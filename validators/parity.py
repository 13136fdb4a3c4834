"""Numerical parity of a candidate's outputs against the reference's, on the same inputs.

A shape mismatch is always a failure; values are judged by the tolerance of the artifact's precision. An output
a model declares in slices (channels of different meaning and scale, e.g. a detector's boxes in pixels and its
scores in [0, 1]) is judged slice by slice, each with its own tolerance. A cosine is never the only check of an
output whose channels differ in scale by SCALE_SPREAD or more: each channel's cosine is checked too, so that a
part with small values cannot be wrong unseen behind a part with large ones.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

SCALE_SPREAD = 100.0  # channels whose largest values differ by this factor are checked one by one


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
    min_channel_cosine: float | None = None  # when the channels' scales differ by SCALE_SPREAD or more


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


@dataclass(frozen=True)
class Slice:
    """Channels [start, stop) of an output along `axis`, judged with their own tolerance."""

    name: str
    start: int
    stop: int
    tolerance: dict
    axis: int = 1


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom > 0 else float(np.array_equal(a, b))


def channel_cosines(ref: np.ndarray, cand: np.ndarray, axis: int = 1) -> np.ndarray | None:
    """Each channel's cosine when the reference's channels differ in scale by SCALE_SPREAD or more, else None."""
    if ref.ndim < 2 or ref.shape[axis] < 2:
        return None
    ref_c = np.moveaxis(ref.astype(np.float64), axis, 0).reshape(ref.shape[axis], -1)
    cand_c = np.moveaxis(cand.astype(np.float64), axis, 0).reshape(ref.shape[axis], -1)
    scales = np.abs(ref_c).max(axis=1)
    if scales.min() <= 0 or scales.max() / scales.min() < SCALE_SPREAD:
        return None
    return np.array([_cosine(r, c) for r, c in zip(ref_c, cand_c, strict=True)])


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
    cosine = _cosine(ref64, cand64)
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
    if tol.get("cosine") is not None:
        if cosine < tol["cosine"]:
            problems.append(f"cosine {cosine:.6f} < {tol['cosine']}")
        per_channel = channel_cosines(ref, cand) if tol.get("atol") is None else None
        if per_channel is not None:  # the cosine alone would be blind to the small channels
            worst = int(np.argmin(per_channel))
            result.min_channel_cosine = float(per_channel[worst])
            if per_channel[worst] < tol["cosine"]:
                problems.append(f"channel {worst} cosine {per_channel[worst]:.6f} < {tol['cosine']} (its channels "
                                f"differ in scale by {SCALE_SPREAD:g}x or more: each is checked)")
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
            cand_outputs: list[np.ndarray], names: list[str], tol: dict,
            slices: dict[str, list[Slice]] | None = None) -> ParityReport:
    """Every output (or every slice of it, where the model declares them) against the reference's."""
    if len(ref_outputs) != len(cand_outputs):
        out = OutputParity("*", [], reason=f"{len(cand_outputs)} outputs, reference has {len(ref_outputs)}")
        return ParityReport(artifact, reference, precision, False, [out])
    outputs = []
    for name, ref, cand in zip(names, ref_outputs, cand_outputs, strict=True):
        parts = (slices or {}).get(name)
        if not parts or ref.shape != cand.shape:
            outputs.append(compare_output(name, ref, cand, tol))
            continue
        for part in parts:
            cut = (slice(None),) * part.axis + (slice(part.start, part.stop),)
            outputs.append(compare_output(f"{name}[{part.name}]", ref[cut], cand[cut], part.tolerance))
    return ParityReport(artifact, reference, precision, all(o.passed for o in outputs), outputs)
