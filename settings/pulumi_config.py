"""Where settings come from: the running stack's config (through ``pulumi.runtime.config``) or a stack file."""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Optional

from .keys import PROJECT
from .model import Settings
from .parse import parse_settings


def load_settings(get_config: Callable[[str], Optional[str]], is_secret: Callable[[str], bool],
                  present_keys: list[str]) -> Settings:
    """Read this project's keys through the given accessors (pulumi.runtime.config in the program)."""
    prefix = f"{PROJECT}:"
    raw = {}
    for full_key in present_keys:
        if full_key.startswith(prefix):
            value = get_config(full_key)
            if value is not None:
                raw[full_key[len(prefix):]] = value
    secrets = frozenset(name for name in raw if is_secret(prefix + name))
    return parse_settings(raw, secrets)


def stack_file_values(stack_config: Mapping[str, Any]) -> tuple[dict[str, str], frozenset[str]]:
    """A stack file's ``config:`` block as the CLI hands it to the program: strings, lists as JSON, secrets
    marked (their ciphertext stands in for the value, so only the shape is checked)."""
    prefix = f"{PROJECT}:"
    raw: dict[str, str] = {}
    secrets: set[str] = set()
    for full_key, value in (stack_config or {}).items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix):]
        if isinstance(value, dict) and "secure" in value:
            raw[key] = value["secure"]
            secrets.add(key)
        else:
            raw[key] = (json.dumps(value) if isinstance(value, (list, dict))
                        else str(value).lower() if isinstance(value, bool) else str(value))
    return raw, frozenset(secrets)


def settings_from_pulumi() -> Settings:
    """Settings of the running stack."""
    from pulumi.runtime import config as runtime_config

    present = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return load_settings(runtime_config.get_config, runtime_config.is_config_secret, sorted(present))
