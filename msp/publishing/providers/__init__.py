"""The DNS provider registry: each provider is a small module declaring its settings (and which
are secret), how to read the RRset at a name, how to compare-and-swap it, and a ``test`` that
proves the credentials can read the zone.

Adding a provider is adding a module and one line in :data:`PROVIDER_MODULES`. Names are
absolute without the trailing dot; TXT values are the joined character-strings (what a
resolver's answer means), MX values are presentation form (``0 .``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from msp.declared import DeclaredField, Validator, secret_names, split_secrets
from msp.declared import require_fields as declared_require_fields

PROVIDER_MODULES = (
    "msp.publishing.providers.rfc2136",
    "msp.publishing.providers.powerdns",
    "msp.publishing.providers.cloudflare",
    "msp.publishing.providers.route53",
)
DEFAULT_TTL = 3600


class ProviderError(Exception):
    """The provider could not be read or written (timeout, refused key, server error).
    The publisher retries these with back-off."""


class StaleRRset(ProviderError):
    """The RRset at the provider is no longer what was read: someone wrote in between."""


class ProviderConfigError(ValueError):
    """Options that do not fit the provider; ``errors`` maps option -> messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class UnknownProvider(LookupError):
    """No provider of that kind is registered."""


ProviderField = DeclaredField  # one option of a provider


@dataclass(frozen=True)
class Account:
    """A provider account as its operations see it: plain options, opened secrets, the zone."""

    config: Mapping[str, Any]
    secrets: Mapping[str, str]
    zone: str
    timeout: float = 10.0

    def option(self, name: str) -> str:
        value = self.secrets.get(name) if name in self.secrets else self.config.get(name)
        return "" if value is None else str(value)


@dataclass(frozen=True)
class RRset:
    """The records of one type at one name (``values`` sorted; empty: none there)."""

    name: str
    rtype: str
    ttl: int
    values: tuple[str, ...]


Reader = Callable[[Account, str, str], RRset]
Writer = Callable[[Account, RRset, RRset], None]
Tester = Callable[[Account], str]


@dataclass(frozen=True)
class Provider:
    """A registered provider. ``write(account, current, new)`` replaces ``current`` (exactly as
    read) with ``new`` or raises StaleRRset; ``test`` returns a short proof (the zone's SOA)."""

    kind: str
    label: str
    fields: tuple[ProviderField, ...]
    validate: Validator
    read: Reader
    write: Writer
    test: Tester

    @property
    def secret_fields(self) -> frozenset[str]:
        return secret_names(self.fields)

    def split(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Validated ``values`` split into (plain options, secrets)."""
        return split_secrets(self.fields, self.validate, values)


def require_fields(
    provider_fields: tuple[ProviderField, ...], values: dict[str, Any]
) -> dict[str, list[str]]:
    """Errors for unknown options and missing required ones (a validator's first step)."""
    return declared_require_fields(provider_fields, values, unknown="unknown option")


def check_fields(provider_fields: tuple[ProviderField, ...], values: dict[str, Any]) -> None:
    """Raise ProviderConfigError unless every required option is there and none is unknown."""
    errors = require_fields(provider_fields, values)
    if errors:
        raise ProviderConfigError(errors)


def absolute(name: str) -> str:
    return name.rstrip(".").lower() + "."


def registry() -> dict[str, Provider]:
    """Every registered provider by kind."""
    providers: dict[str, Provider] = {}
    for name in PROVIDER_MODULES:
        provider: Provider = importlib.import_module(name).PROVIDER
        providers[provider.kind] = provider
    return providers


def kinds() -> tuple[str, ...]:
    return tuple(name.rsplit(".", 1)[1] for name in PROVIDER_MODULES)


def get_provider(kind: str) -> Provider:
    try:
        return registry()[kind]
    except KeyError:
        raise UnknownProvider(f"no DNS provider {kind!r}") from None
