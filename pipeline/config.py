"""Check a composed config before anything runs, in one place: against the schema (pipeline.schema), and each
graph step's options against its kind's own Options; each mistake is one line naming the key, the value and
what is allowed."""
from __future__ import annotations

import importlib.util
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Annotated, Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, TypeAdapter, ValidationError

from bench.settings import batch_sizes, register_resolvers
from converters import ACCEPTED_FORMATS, option_defaults, step_module
from core.errors import UserError, first_line
from pipeline.schema import PRECISIONS, Config, Model, options_of

SOURCE = "model"  # the name of the source artifact every graph starts from
FILE_SOURCES = {"onnx_file": "onnx", "torch_file": "torch"}
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
STEP_KEYS = ("kind", "input", "timeout_s", "when_precision")  # every step has these besides its own Options
# The keys that name a user's file or folder: made absolute before they are checked (children run elsewhere)
PATH_KEYS = (("model", "weights"), ("model", "path"), ("input", "images"), ("input", "data"), ("input", "labels"),
             ("input", "audio"), ("calibration", "images"))


def register_step_defaults() -> None:
    """Each graph step kind's Options defaults as the Hydra config `step_defaults/<kind>`, which conf/step/<kind>.yaml
    extends: a default is written once, in the class, and `graph.steps.NAME.OPTION=...` overrides a key Hydra knows."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for kind, accepts in ACCEPTED_FORMATS.items():
        if accepts is not None:  # a source step is no graph step: it has no conf/step file
            store.store(group="step_defaults", name=kind, node=option_defaults(kind))


# before any config composes or resolves: convert.py and the tests import this module first
register_resolvers()
register_step_defaults()


# ---- graph steps: each kind's own Options ---------------------------------------------------------------------
def check_steps(steps: dict) -> None:
    for name, options in steps.items():
        where = f"graph.steps.{name}"
        if not isinstance(options, dict) or "kind" not in options:
            raise UserError(f"{where} has no `kind`; known kinds: {', '.join(ACCEPTED_FORMATS)}")
        kind = options["kind"]
        if not isinstance(kind, str) or not kind:
            raise UserError(f"{where}.kind={kind!r} is not allowed; give a step kind: {', '.join(ACCEPTED_FORMATS)}")
        source = options.get("input", SOURCE)
        if not isinstance(source, str) or (source != SOURCE and source not in steps):
            raise UserError(f"{where}.input={source!r} names no step; allowed: {', '.join([SOURCE, *steps])}")
        timeout = options.get("timeout_s", 1)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise UserError(f"{where}.timeout_s={timeout!r} is not allowed; give seconds > 0")
        when = options.get("when_precision")
        if when is not None and (not isinstance(when, list) or not set(when) <= set(PRECISIONS)):
            raise UserError(f"{where}.when_precision={when!r} is not allowed; give a list of: {', '.join(PRECISIONS)}")
        if "." in kind:  # a user's own step module, by import path: its options are its business
            if importlib.util.find_spec(kind.rsplit(".", 1)[0]) is None or importlib.util.find_spec(kind) is None:
                raise UserError(f"{where}.kind={kind!r}: no such module")
            continue
        if ACCEPTED_FORMATS.get(kind, None) is None:
            known = ", ".join(k for k, v in ACCEPTED_FORMATS.items() if v is not None)
            raise UserError(f"{where}.kind={kind!r} is not a known step; known: {known}")
        declared = step_module(kind).Options
        own = {key: value for key, value in options.items() if key not in STEP_KEYS}
        allowed = [f.name for f in fields(declared)]
        for key in own:
            if key not in allowed:
                raise UserError(f"{where}.{key} is not an option of {kind}; its options: "
                              f"{', '.join(['input', 'timeout_s', *allowed])}")
        try:
            TypeAdapter(options_of(declared)).validate_python(own)
        except ValidationError as error:
            raise UserError(explain(error, ("graph", "steps", name))) from None


# ---- the composed config, parsed once -------------------------------------------------------------------------
def parse(cfg: DictConfig) -> Config:
    """Hydra's composed config -> the checked Config every part of a run reads, or a UserError of one line."""
    # bench.batch first: its one line names the value and what is allowed (a batch size >= 1 or a list of them)
    batch_sizes(cfg.bench.batch)
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as error:  # an interpolation that cannot resolve (a value of the wrong kind)
        key = getattr(error, "full_key", None) or "the config"
        raise UserError(f"{key}: {first_line(error)}") from None
    absolutize_paths(resolved)
    return validate(resolved)


def absolutize_paths(config: dict) -> None:
    """Children run from the repo root: a user's relative paths must mean what they meant in their cwd (and `~`
    its home, before the schema looks for the file). A value that is not a path is left for the schema to name."""
    for section, key in PATH_KEYS:
        node = config.get(section)
        value = node.get(key) if isinstance(node, dict) else None
        if value == MISSING:  # conf/model/onnx.yaml's `path: ???`: not given (check_model_file says what to give)
            node[key] = None
        elif isinstance(value, str) and value:
            node[key] = str(Path(value).expanduser().resolve())


# ---- one line per mistake -------------------------------------------------------------------------------------
def validate(config: dict) -> Config:
    """The resolved config (a plain dict) -> the checked Config, or a UserError of one line."""
    try:
        checked = Config.model_validate(config)
        if checked.graph is not None:
            check_steps(checked.graph.steps)
    except ValidationError as error:
        raise UserError(explain(error)) from None
    return checked


def explain(error: ValidationError, prefix: tuple = ()) -> str:
    """The first mistake of a ValidationError as one line: `key=value is not allowed; what is`."""
    errors = error.errors()
    first = errors[0]
    parts = ["validate" if p == "validate_" else str(p) for p in (*prefix, *first["loc"])]
    key, value, kind, ctx = ".".join(parts), first.get("input"), first["type"], first.get("ctx") or {}
    if kind == "convgraph":
        return first["msg"]
    if kind == "value_error":  # an Options dataclass's own check: "name=value is not allowed; ..."
        return f"{key}.{ctx['error']}" if key else str(ctx["error"])
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        known = known_keys(parts[:-1])
        return f"{key} is not a config key" + (f"; known: {', '.join(known)}" if known else "")
    if kind == "missing":
        return f"{key} is missing"
    if kind == "option_int":  # an int option of an Options dataclass given something else
        return f"{key}.{ctx['field']}={ctx['value']!r} is not allowed; give an integer"
    branches = [e for e in errors if e["loc"] and len(e["loc"]) == len(first["loc"])
                and e["loc"][:-1] == first["loc"][:-1]]
    if len(branches) > 1 and all(_is_union_member(e["loc"][-1]) for e in branches):
        # one value refused by every member of a union (`bool | Literal["auto"]`): name them all, on the field
        allowed = [word for e in branches for word in _allowed(e, parts[:-1])]
        return f"{'.'.join(parts[:-1])}={value!r} is not allowed; allowed: {', '.join(allowed[:-1])} or {allowed[-1]}"
    return f"{key}={value!r} is not allowed; {_what(kind, ctx, parts, first['msg'])}"


def _what(kind: str, ctx: dict, parts: list[str], message: str) -> str:
    """What a refused value should have been, for one pydantic error type (else pydantic's own message)."""
    number = "an integer" if _unwrap(_type_at(parts)) is int else "a number"
    return {
        "literal_error": f"allowed: {str(ctx.get('expected', '')).replace(' or ', ', ').replace(chr(39), '')}",
        "int_type": "give an integer", "int_parsing": "give an integer", "int_from_float": "give an integer",
        "greater_than_equal": f"give {number} >= {ctx.get('ge')}", "greater_than": f"give {number} > {ctx.get('gt')}",
        "less_than": f"give {number} < {ctx.get('lt')}", "less_than_equal": f"give {number} <= {ctx.get('le')}",
        "bool_type": "give true or false", "bool_parsing": "give true or false",
        "float_type": "give a number", "float_parsing": "give a number", "bool_not_number": "give a number",
        "string_type": "give a string", "list_type": "give a list", "dict_type": "give a mapping",
        "model_type": "give a mapping",
    }.get(kind, message)


def _allowed(error: dict, parts: list[str]) -> list[str]:
    """What one member of a union takes, as words to list: ['true', 'false'], ['auto'], ['an integer']."""
    if error["type"] in ("bool_type", "bool_parsing"):
        return ["true", "false"]
    what = _what(error["type"], error.get("ctx") or {}, parts, error["msg"])
    return what.removeprefix("allowed: ").split(", ") if what.startswith("allowed: ") else [what.removeprefix("give ")]


def _is_union_member(tag) -> bool:
    """pydantic tags a union member's error by the member: 'bool', 'int', "literal['auto']" (never a config key)."""
    return not str(tag).isidentifier() or tag in ("bool", "int", "float", "str", "none")


def known_keys(parts: list[str]) -> list[str]:
    """The keys the schema knows at a config path (`bench.runtime` -> torch, onnxruntime, ...)."""
    node = _type_at(parts)
    return [] if node is None else _field_names(node)


def _type_at(parts: list[str]):
    node: Any = Config
    for part in parts:
        node = _field_type(node, part)
        if node is None:
            return None
    return node


def _unwrap(kind):
    """int for Annotated[int, ...] | None; the class for a model or dataclass."""
    while typing.get_origin(kind) in (Annotated, typing.Union, type(int | None)):
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    return kind


def _field_type(node, name: str):
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        name = "validate_" if name == "validate" else name
        return node.model_fields[name].annotation if name in node.model_fields else None
    if is_dataclass(node):
        return typing.get_type_hints(node).get(name)
    return None


def _field_names(node) -> list[str]:
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return [f.alias or n for n, f in node.model_fields.items()]
    return [f.name for f in fields(node)] if is_dataclass(node) else []


# ---- files and folders the config names -----------------------------------------------------------------------
def available(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def source_format(model: Model) -> str:
    return FILE_SOURCES.get(model.source, "torch")
