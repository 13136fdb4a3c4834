"""Pairing a converted model's tensors with the reference's, for runtimes whose converter renamed and
re-laid-out them (onnx2tf: NCHW -> NHWC, outputs `output_K` / `Identity_K`; litert-torch keeps NCHW and its
files carry the reference's names, spelled as identifiers: `input.1` -> `input_1`, which compare equal here).

By name, then by onnx2tf's positional names, then by shape when exactly one candidate fits; each pair must fit
as is or channels-last. Anything ambiguous is an error naming the artifact and every output: comparing tensors
that were guessed at could pass by accident, or fail pointing at the wrong place.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from core.artifact import Artifact, TensorSpec
from runtimes.base import Runner


class TensorMatchError(ValueError):
    """A runtime's tensors cannot be paired with the reference's unambiguously. We never guess: comparing the
    wrong tensors could pass by accident, or fail with an error that points at the wrong place."""


@dataclass(frozen=True)
class OutputPlan:
    name: str  # the runtime's own output name
    transpose: tuple[int, ...] | None  # axes that bring it into the reference's layout; None = already is


def channels_last(shape: list[int]) -> list[int]:
    """The shape onnx2tf gives a channels-first tensor: NCHW -> NHWC (NCW -> NWC, NCDHW -> NDHWC)."""
    return [shape[0], *shape[2:], shape[1]] if len(shape) >= 3 else list(shape)


def _fits(actual, expected) -> bool:
    if len(actual) != len(expected):
        return False
    return all(a == e or a < 0 or e < 0 for a, e in zip(actual, expected, strict=True))


def orientations(expected: list[int], actual: list[int]) -> list[tuple[int, ...] | None]:
    """Ways `actual` can be the reference tensor of shape `expected`: as is (None) and/or channels-last (the
    transpose back). Two ways = ambiguous (e.g. C == H == W), unless the transpose cannot move a value."""
    ways: list[tuple[int, ...] | None] = [None] if _fits(actual, expected) else []
    if len(expected) >= 3 and _fits(actual, channels_last(expected)):
        back = (0, len(expected) - 1, *range(1, len(expected) - 1))
        moving = [axis for axis in back if actual[axis] != 1]
        if not (ways and moving == sorted(moving)):  # a transpose over size-1 axes only is no transpose
            ways.append(back)
    if len(ways) == 2:  # dynamic sizes fit both: the layout whose known sizes agree with more known sizes wins
        as_is, last = _agreeing(actual, expected), _agreeing(actual, channels_last(expected))
        if as_is != last:
            ways = [ways[0] if as_is > last else ways[1]]
    return ways


def _agreeing(actual: list[int], expected: list[int]) -> int:
    """How many axes have a known size on both sides, the same (onnx2tf's [-1, -1, -1, 3] against an ONNX input
    [-1, 3, -1, -1]: none as is, the 3 channels-last)."""
    return sum(1 for a, e in zip(actual, expected, strict=True) if a > 0 and e > 0 and a == e)


def sanitized(name: str) -> str:
    """'logits', 'Logits:0' (a TF tensor name), 'logits__0'... -> one spelling, to compare names by."""
    return re.sub(r"[^0-9a-z]+", "_", re.sub(r"(:|__)\d+$", "", name).lower()).strip("_")


POSITIONAL = re.compile(r"output_(\d+)|identity(?:_(\d+))?")


def _position(name: str) -> int | None:
    """onnx2tf's SavedModel signature names its outputs output_K and a signature-less TFLite file Identity,
    Identity_K: both mean the K-th output of the ONNX model, i.e. the K-th reference output."""
    match = POSITIONAL.fullmatch(name.lower())
    return int(match.group(1) or match.group(2) or 0) if match else None


def match_outputs(artifact: str, reference: list[TensorSpec], runtime: dict[str, list[int]]) -> list[OutputPlan]:
    """Pair each reference output with one runtime output: by (sanitized) name, then by onnx2tf's positional
    name, then by shape when exactly one candidate fits; each pair must fit as is or channels-last."""
    def fail(why: str):
        ref = ", ".join(f"{s.name}{list(s.shape)}" for s in reference)
        got = ", ".join(f"{n}{list(s)}" for n, s in runtime.items())
        raise TensorMatchError(f"{artifact}: cannot match its outputs to the reference ({why}); "
                               f"reference: {ref}; {artifact}: {got}")

    if len(runtime) != len(reference):
        fail(f"it has {len(runtime)} outputs, the reference {len(reference)}")
    by_name = {sanitized(n): n for n in runtime}
    chosen: dict[int, str] = {}
    for i, spec in enumerate(reference):
        name = by_name.get(sanitized(spec.name)) or next((n for n in runtime if _position(n) == i), None)
        if name is not None:
            chosen[i] = name
    for i, spec in enumerate(reference):
        if i not in chosen:
            free = [n for n in runtime if n not in chosen.values() and orientations(spec.shape, runtime[n])]
            if len(free) != 1:
                fail(f"{len(free)} unnamed outputs fit {spec.name!r} by shape: {free}")
            chosen[i] = free[0]
    if len(set(chosen.values())) != len(reference):
        fail("one output matched two reference outputs")
    plans = []
    for i, spec in enumerate(reference):
        name = chosen[i]
        ways = orientations(spec.shape, runtime[name])
        if not ways:
            fail(f"{name!r} (paired with {spec.name!r}) has shape {list(runtime[name])}, neither {spec.shape} "
                 f"nor channels-last {channels_last(spec.shape)}")
        if len(ways) > 1:
            fail(f"{name!r} of shape {list(runtime[name])} fits {spec.name!r} both as is and channels-last")
        plans.append(OutputPlan(name, ways[0]))
    return plans


def scalar(expected: list[int], actual: list[int]) -> list[None]:
    """A rank-0 reference input that the runtime takes as a vector of one (onnx2tf makes a scalar [None]): it fits
    as is, reshaped by the runner (scalars_of)."""
    return [None] if not expected and list(actual) in ([1], [-1]) else []


def scalars_of(artifact: Artifact, runtime: dict[str, list[int]], pairs: dict[str, tuple[str, str]]) -> set[str]:
    """The reference inputs of rank 0 that the runtime takes as [1]: the runner feeds them reshaped."""
    shapes = {spec.name: spec.shape for spec in artifact.inputs}
    return {ours for ours, (theirs, _) in pairs.items() if not shapes[ours] and len(runtime[theirs]) == 1}


def match_inputs(artifact: Artifact, runtime: dict[str, list[int]]) -> dict[str, tuple[str, str]]:
    """reference input name -> (the runtime's name for it, "NHWC" when it takes it channels-last, else "").
    Paired by (sanitized) name, or as the only input; each pair must fit as is or channels-last, not both (a
    rank-0 input taken as [1] fits as is)."""
    reference = artifact.inputs
    if len(runtime) != len(reference):
        raise TensorMatchError(f"{artifact.name}: it has {len(runtime)} inputs {list(runtime)}, the reference "
                               f"{len(reference)} {[s.name for s in reference]}")
    by_name = {sanitized(n): n for n in runtime}
    pairs = {}
    for spec in reference:
        name = by_name.get(sanitized(spec.name)) or (next(iter(runtime)) if len(runtime) == 1 else None)
        if name is None:
            raise TensorMatchError(f"{artifact.name}: no input named like the reference's {spec.name!r}; it has "
                                   f"{list(runtime)}")
        ways = orientations(spec.shape, runtime[name]) or scalar(spec.shape, runtime[name])
        if len(ways) != 1:
            raise TensorMatchError(f"{artifact.name}: input {name!r} of shape {runtime[name]} fits the reference "
                                   f"input {spec.name!r} {spec.shape} "
                                   f"{'both as is and channels-last' if ways else 'in no layout'}")
        pairs[spec.name] = (name, "NHWC" if ways[0] is not None and len(spec.shape) == 4 else "")
    return pairs


def apply_plans(plans: list[OutputPlan], outputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [outputs[p.name] if p.transpose is None else outputs[p.name].transpose(p.transpose) for p in plans]


class MappedRunner(Runner):
    """A runner whose outputs went through match_outputs: info() says how each reference output was found."""

    reference: list[TensorSpec]
    plans: list[OutputPlan]

    def info(self) -> dict:
        return {**super().info(), "outputs": {ref.name: plan.name + (f" transposed {list(plan.transpose)}"
                                                                    if plan.transpose else "")
                                              for ref, plan in zip(self.reference, self.plans, strict=True)}}


def shape_of(dims) -> list[int]:
    return [-1 if d is None or d < 0 else int(d) for d in dims]


