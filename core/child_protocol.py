"""A child process's request and reply as typed records: frozen dataclasses written as JSON (people read
request.json when debugging) and read back field by field, so that a missing, unknown or mistyped field is one
line naming it, not a KeyError deep in the child.

Each protocol (converters.run_step, runtimes.infer, bench.worker, validators.localize) defines its records next to
its child, in the lowest package both sides import, and numbers itself: `schema_version` is the protocol's own
version, not results.json's (pipeline/results.py sits above every child, and a protocol changes on its own; both
sides of a run come from one checkout, so a mismatch means a request.json from another checkout run by hand).
Standard library only: core/ ships in the deploy bundle.
"""
from __future__ import annotations

import json
import os
import types
from dataclasses import MISSING, asdict, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")
M = TypeVar("M", bound="Message")


class ProtocolError(ValueError):
    """A request or reply that does not fit its record: one line naming the field."""


@dataclass(frozen=True)
class Message:
    """Base of a protocol's request and reply records: `schema_version` is the protocol's `VERSION`."""

    VERSION: ClassVar[int] = 1
    CHILD: ClassVar[str] = ""  # a request: the module run as `python -m CHILD request.json`

    def to_dict(self) -> dict:
        return {**asdict(self), "schema_version": self.VERSION}

    def slow_import(self) -> str | None:
        """A request: the library, slow to import, that its child will import, if any; such a child may start
        forked from a process that imported it once (pipeline/warm_start.py)."""
        return None

    def given(self) -> dict:
        """The fields that carry a value, as data, without the protocol's version: what a results record takes."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    def write(self, path: Path) -> None:
        """Whole or not at all: a child killed while answering leaves no half-written reply."""
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.to_dict(), indent=2))
        os.replace(partial, path)

    @classmethod
    def from_dict(cls: type[M], data: Any, where: str = "") -> M:
        """The record from its JSON form; ProtocolError (one line) when it does not fit."""
        name = f"{cls.__name__}{f' ({where})' if where else ''}"
        if not isinstance(data, dict):
            raise ProtocolError(f"{name}: expected a JSON object, got {type(data).__name__}")
        version = data.get("schema_version")
        if version != cls.VERSION:
            said = "has no schema_version" if version is None else f"is schema_version {version!r}"
            raise ProtocolError(f"{name} {said}; this checkout reads {cls.VERSION} (written by hand or by another "
                                "checkout?)")
        return parse(cls, {k: v for k, v in data.items() if k != "schema_version"}, name)

    @classmethod
    def read(cls: type[M], path: Path | str) -> M:
        """The record in a JSON file; ProtocolError when the file is missing, not JSON or does not fit."""
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ProtocolError(f"{cls.__name__}: no file {path}") from None
        except ValueError as error:
            raise ProtocolError(f"{cls.__name__}: {path} is not JSON ({error})") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def read_if_any(cls: type[M], path: Path) -> M | None:
        """A child's reply, or None when it wrote none (it crashed or was killed first)."""
        return cls.read(path) if path.is_file() else None


def parse(cls: type[T], data: Any, where: str) -> T:
    """A dataclass from its JSON form, every field checked against its annotation (nested dataclasses too)."""
    if not isinstance(data, dict):
        raise ProtocolError(f"{where}: expected an object, got {_shown(data)}")
    known = {f.name: f for f in fields(cls) if f.init}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ProtocolError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(known)})")
    missing = [n for n, f in known.items() if n not in data and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise ProtocolError(f"{where}: missing field {missing[0]!r}")
    hints = get_type_hints(cls)
    values = {name: _value(hints[name], value, f"{where}: field {name!r}") for name, value in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:  # the record's own checks (__post_init__): an unknown format, ...
        raise ProtocolError(f"{where}: {str(error).splitlines()[0]}") from None


def _value(hint: Any, value: Any, where: str) -> Any:
    """`value` as the annotation `hint` asks: containers converted, scalars checked."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in [a for a in args if a is not type(None)]:
            try:
                return _value(option, value, where)
            except ProtocolError:
                continue
        raise ProtocolError(f"{where} is {_shown(value)}, not {_named(hint)}")
    if origin is Literal:
        if value not in args:
            raise ProtocolError(f"{where} is {value!r}; allowed: {', '.join(map(repr, args))}")
        return value
    if is_dataclass(hint):
        return parse(hint, value, where)
    expected = origin or hint
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, list if expected is tuple else expected) or (
            isinstance(value, bool) and expected in (int, float)):
        raise ProtocolError(f"{where} is {_shown(value)}, not {_named(hint)}")
    if expected in (list, tuple) and args:
        item = args[0]
        items = [_value(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if expected is tuple else items
    if expected is dict and len(args) == 2:
        return {_value(args[0], k, f"{where} key"): _value(args[1], v, f"{where}[{k!r}]") for k, v in value.items()}
    return value


def _named(hint: Any) -> str:
    return getattr(hint, "__name__", None) if get_origin(hint) is None else str(hint).replace("typing.", "")


def _shown(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."
