"""Check config-group choices on the command line (model=..., +graph=...) before Hydra composes.

Hydra's own answer to an unknown choice is a multi-line dump of its search path; a user gets one line
naming the value and the choices instead.
"""
from __future__ import annotations

from core.errors import UserError
from pipeline.config_check import CONF_DIR, available


def check_group_choices(argv: list[str]) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    groups = {p.name for p in CONF_DIR.iterdir() if p.is_dir()}
    args = [a for a in argv if not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except HydraException:
        return  # malformed override: Hydra's own message is the right one
    for override in overrides:
        group = override.key_or_group
        if group not in groups or override.is_delete():
            continue
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        choices = available(group)
        for value in values:
            if str(value) not in choices:
                raise UserError(f"{group}={value} is not known; available: {', '.join(choices)}")
