"""A graph config (a mapping of named steps, each naming the step it consumes) as steps in run order.

The config was checked already (pipeline.config): every kind is known, every input names a step, every
option is one the step declares. What is left here is the shape: dependency order, descendants, and where
the graph starts when the source is a file.
"""
from __future__ import annotations

from dataclasses import dataclass

from converters import ACCEPTED_FORMATS
from core.errors import UserError
from pipeline.config import SOURCE, STEP_KEYS


@dataclass
class StepSpec:
    name: str
    kind: str
    input: str
    options: dict
    timeout_s: float
    when_precision: list[str] | None = None  # the step applies only at these run precisions (else n/a)


def resolve_steps(steps: dict, default_timeout: float) -> list[StepSpec]:
    """graph.steps (a plain dict) -> StepSpecs, parents before children."""
    specs = {}
    for name, options in steps.items():
        own = {k: v for k, v in options.items() if k not in STEP_KEYS}
        specs[name] = StepSpec(name, options["kind"], options.get("input", SOURCE), own,
                               float(options.get("timeout_s", default_timeout)), options.get("when_precision"))
    return _dependency_order(specs)


def _dependency_order(specs: dict[str, StepSpec]) -> list[StepSpec]:
    """Parents before children, otherwise in the order the config lists them."""
    ordered, done = [], {SOURCE}
    pending = list(specs.values())
    while pending:
        ready = [s for s in pending if s.input in done]
        if not ready:
            raise UserError(f"graph steps form a cycle: {', '.join(s.name for s in pending)}")
        for spec in ready:
            ordered.append(spec)
            done.add(spec.name)
            pending.remove(spec)
    return ordered


def descendants(steps: list[StepSpec], name: str) -> set[str]:
    out, frontier = set(), {name}
    while frontier:
        frontier = {s.name for s in steps if s.input in frontier} - out
        out |= frontier
    return out


def start_from(steps: list[StepSpec], source_format: str) -> list[StepSpec]:
    """Leave out the steps that come before the source's format (the export, when the graph starts from
    an ONNX file); their children then consume the source directly."""
    kept = []
    dropped: dict[str, str] = {}
    for spec in steps:
        spec.input = dropped.get(spec.input, spec.input)
        accepts = ACCEPTED_FORMATS.get(spec.kind)
        if spec.input == SOURCE and accepts and source_format not in accepts:
            dropped[spec.name] = SOURCE
            continue
        kept.append(spec)
    return kept
