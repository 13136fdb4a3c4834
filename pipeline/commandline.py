"""The command line's mistakes as one line each, without composing the config a second time: the overrides are
parsed (group choices, folders Hydra would write to) before Hydra runs, and what Hydra's own composition
refuses is explained from its exception."""
from __future__ import annotations

import re

from core.errors import UserError
from pipeline.config import CONF_DIR, available
from pipeline.schema import unwritable


def check_argv(argv: list[str]) -> None:
    """Unknown choices of our config groups (model=..., +graph=...), sweep values included, and run/sweep
    folders that cannot be written (Hydra's own answer to either is a multi-line dump)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    groups = {p.name for p in CONF_DIR.iterdir() if p.is_dir()}
    try:
        overrides = OverridesParser.create().parse_overrides([a for a in argv if not a.startswith("-")])
    except HydraException:
        return  # malformed override: Hydra's own message is the right one
    for override in overrides:
        key = override.key_or_group
        if key in ("hydra.run.dir", "hydra.sweep.dir"):
            problem = unwritable(str(override.value()))
            if problem:
                raise UserError(f"{key}={str(override.value())!r} is not writable: {problem}")
        if key not in groups or override.is_delete():
            continue
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        choices = available(key)
        for value in values:
            if str(value) not in choices:
                raise UserError(f"{key}={value} is not known; available: {', '.join(choices)}")


def explain(error: Exception, argv: list[str]) -> str:
    """Hydra's composition error (an unknown key, a value of the wrong kind) as one line."""
    message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    cause = " ".join(line.strip() for line in str(error.__cause__ or "").splitlines() if line.strip())
    unknown = re.search(r"Could not override '([^']+)'", message)
    if unknown:
        key = unknown.group(1)
        deeper = re.search(r"full_key: (\S+)", cause)
        line = next((a.lstrip("+") for a in argv if a.lstrip("+").startswith(f"{key}=")), f"{key}=VALUE")
        if deeper and deeper.group(1) != key and deeper.group(1).startswith(f"{key}."):
            # the key exists; the dict given for it brings keys it does not have yet
            value = line.split("=", 1)[1]
            return f"{key}={value}: {value} has keys {key} does not have yet; merge them in with ++{key}={value}"
        return f"{key} is not a config key (a new key is added with +{key}=VALUE)"
    return f"{message} {cause}".strip()
