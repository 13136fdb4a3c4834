"""Check the command line before Hydra runs, so that each mistake is one line naming the value and the choices.

Hydra's own answers to an unknown group choice or key are multi-line dumps of its search path.
"""
from __future__ import annotations

import re

from core.errors import UserError
from pipeline.config_check import CONF_DIR, available, ensure_writable


def check_group_choices(argv: list[str]) -> None:
    """Unknown choices of our config groups (model=..., +graph=...), sweep values included."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    groups = {p.name for p in CONF_DIR.iterdir() if p.is_dir()}
    try:
        overrides = OverridesParser.create().parse_overrides([a for a in argv if not a.startswith("-")])
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


def check_keys(argv: list[str]) -> None:
    """Compose once with the first value of every sweep: an unknown key or a bad value type is one line."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        overrides = OverridesParser.create().parse_overrides([a for a in argv if not a.startswith("-")])
    except HydraException:
        return
    first = []
    mappings = {}  # key -> its override, for dict values: {a: 1} on an existing {} fails for the new key inside
    for override in overrides:
        if isinstance(override.value(), dict) and not override.is_sweep_override():
            mappings[override.key_or_group] = override
        if override.key_or_group in ("hydra.run.dir", "hydra.sweep.dir"):
            ensure_writable(str(override.value()), override.key_or_group)  # Hydra's own error is a traceback
        if override.key_or_group.startswith("hydra"):
            continue  # launcher and other Hydra settings: Hydra's own business
        if override.is_sweep_override():
            value = next(iter(override.sweep_string_iterator()))
            first.append(f"{override.get_key_element()}={value}")
        else:
            first.append(override.input_line)
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            compose("config", overrides=first)
    except (HydraException, OmegaConfBaseException) as error:
        message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        unknown = re.search(r"Could not override '([^']+)'", message)
        if unknown and unknown.group(1) in mappings and _exists(unknown.group(1), first, mappings):
            key, value = unknown.group(1), mappings[unknown.group(1)].input_line.split("=", 1)[1]
            raise UserError(f"{key}={value}: {value} has keys {key} does not have yet; merge them in with "
                            f"++{key}={value}") from error
        if unknown:
            raise UserError(f"{unknown.group(1)} is not a config key (a new key is added with "
                            f"+{unknown.group(1)}=VALUE)") from error
        raise UserError(message) from error


def _exists(key: str, overrides: list[str], mappings: dict) -> bool:
    """Whether `key` is in the config composed without the dict override that failed on it."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    others = [line for line in overrides if line != mappings[key].input_line]
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return OmegaConf.select(compose("config", overrides=others), key, default=None) is not None
    except Exception:  # noqa: BLE001 - another override is at fault: the generic message stands
        return False
