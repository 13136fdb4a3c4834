"""Resolve a graph config (a mapping of named steps, each naming the step it consumes) into run order."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from converters import STEP_INPUTS, step_module
from core.errors import UserError

SOURCE = "model"  # the name of the source artifact every graph starts from


@dataclass
class StepSpec:
    name: str
    kind: str
    input: str
    options: dict
    timeout_s: float
    when_precision: list[str] | None = None  # the step applies only at these run precisions (else n/a)


def resolve_steps(graph: DictConfig, default_timeout: float) -> list[StepSpec]:
    steps = OmegaConf.to_container(graph.get("steps") or {}, resolve=True)
    specs = {}
    for name, options in steps.items():
        if not isinstance(options, dict) or "kind" not in options:
            raise UserError(f"graph.steps.{name} has no `kind`; known kinds: {', '.join(STEP_INPUTS)}")
        kind = options.pop("kind")
        if "." in kind:  # a user's own step module, by import path
            if importlib.util.find_spec(kind.rsplit(".", 1)[0]) is None or importlib.util.find_spec(kind) is None:
                raise UserError(f"graph.steps.{name}.kind={kind!r}: no such module")
        elif kind not in STEP_INPUTS or STEP_INPUTS[kind] is None:
            known = ", ".join(k for k, v in STEP_INPUTS.items() if v is not None)
            raise UserError(f"graph.steps.{name}.kind={kind!r} is not a known step; known: {known}")
        source = options.pop("input", SOURCE)
        timeout = options.pop("timeout_s", default_timeout)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise UserError(f"graph.steps.{name}.timeout_s={timeout!r} is not allowed; give seconds > 0")
        when = options.pop("when_precision", None)
        check_options(name, kind, options)
        specs[name] = StepSpec(name, kind, source, options, float(timeout), when)
    for spec in specs.values():
        if spec.input != SOURCE and spec.input not in specs:
            allowed = ", ".join([SOURCE, *specs])
            raise UserError(f"graph.steps.{spec.name}.input={spec.input!r} names no step; allowed: {allowed}")
    return _dependency_order(specs)


def check_options(name: str, kind: str, options: dict) -> None:
    """Against the step module's OPTIONS (name -> type, or a tuple of allowed values): one line per mistake."""
    declared = getattr(step_module(kind), "OPTIONS", None)
    if declared is None:
        return  # a user's own step that declares nothing: its options are its business
    for key, value in options.items():
        if key not in declared:
            raise UserError(f"graph.steps.{name}.{key} is not an option of {kind}; its options: "
                            f"{', '.join(['input', 'timeout_s', *declared])}")
        rule = declared[key]
        if isinstance(rule, tuple):
            if value not in rule:
                raise UserError(f"graph.steps.{name}.{key}={value!r} is not allowed; allowed: "
                                f"{', '.join(map(str, rule))}")
        elif rule is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise UserError(f"graph.steps.{name}.{key}={value!r} is not allowed; give an integer")
        elif not isinstance(value, rule):
            raise UserError(f"graph.steps.{name}.{key}={value!r} is not allowed; give a {rule.__name__}")


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
        accepts = STEP_INPUTS.get(spec.kind)
        if spec.input == SOURCE and accepts and source_format not in accepts:
            dropped[spec.name] = SOURCE
            continue
        kept.append(spec)
    return kept
