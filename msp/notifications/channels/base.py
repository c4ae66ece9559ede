"""What every channel is made of: its fields, the message and target it is given, its errors.
The registry of the channels is the package (:mod:`msp.notifications.channels`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from msp.notifications.settings import NotifySettings


class DeliveryError(Exception):
    """A message could not be delivered. ``permanent``: retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class ChannelConfigError(ValueError):
    """An endpoint configuration does not fit its channel; ``errors`` maps field -> messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class UnknownChannel(LookupError):
    """No channel of that kind is registered."""


@dataclass(frozen=True)
class ChannelField:
    """One configuration field of a channel."""

    name: str
    help: str
    required: bool = True
    secret: bool = False
    many: bool = False


@dataclass(frozen=True)
class Message:
    """What to send: a subject and text for people, HTML optionally, ``data`` for machines."""

    subject: str
    text: str
    html: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """Where to send: the endpoint's plain configuration, its secrets, and a delivery id."""

    config: Mapping[str, Any]
    secrets: Mapping[str, str]
    delivery_id: int = 0
    attempt: int = 1


Sender = Callable[[Message, Target, NotifySettings], str]
Validator = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Channel:
    """A registered channel. ``send`` returns a short receipt or raises DeliveryError."""

    kind: str
    label: str
    fields: tuple[ChannelField, ...]
    validate: Validator
    send: Sender

    @property
    def secret_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.secret)

    def split(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Validated ``values`` split into (plain configuration, secrets)."""
        cleaned = self.validate(values)
        plain = {k: v for k, v in cleaned.items() if k not in self.secret_fields}
        secret = {k: str(v) for k, v in cleaned.items() if k in self.secret_fields}
        return plain, secret


def require_fields(
    channel_fields: tuple[ChannelField, ...], values: dict[str, Any]
) -> dict[str, list[str]]:
    """Errors for unknown fields and missing required ones (a validator's first step)."""
    known = {f.name for f in channel_fields}
    errors: dict[str, list[str]] = {k: ["unknown field"] for k in values if k not in known}
    for f in channel_fields:
        if f.required and values.get(f.name) in (None, "", []):
            errors[f.name] = ["required"]
    return errors
