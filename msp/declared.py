"""What an area's pluggable modules declare about their settings (notification channels, DNS
providers): one field each, which of them are secret, and the checks every validator starts
with. Secrets are stored sealed (msp.crypto) and never shown back; this module only says which."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

Validator = Callable[[dict[str, Any]], dict[str, Any]]
EMPTY: tuple[Any, ...] = (None, "", [])


@dataclass(frozen=True)
class DeclaredField:
    """One setting of a channel or provider; ``many`` takes a list (e.g. e-mail addresses)."""

    name: str
    help: str
    required: bool = True
    secret: bool = False
    many: bool = False


def secret_names(fields: Iterable[DeclaredField]) -> frozenset[str]:
    return frozenset(f.name for f in fields if f.secret)


def split_secrets(
    fields: tuple[DeclaredField, ...], validate: Validator, values: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validated ``values`` split into (plain settings, secrets)."""
    cleaned = validate(values)
    secret = secret_names(fields)
    plain = {k: v for k, v in cleaned.items() if k not in secret}
    return plain, {k: str(v) for k, v in cleaned.items() if k in secret}


def require_fields(
    fields: tuple[DeclaredField, ...], values: dict[str, Any], *, unknown: str = "unknown field"
) -> dict[str, list[str]]:
    """Errors for undeclared keys and missing required ones (a validator's first step)."""
    known = {f.name for f in fields}
    errors: dict[str, list[str]] = {k: [unknown] for k in values if k not in known}
    for f in fields:
        if f.required and values.get(f.name) in EMPTY:
            errors[f.name] = ["required"]
    return errors
