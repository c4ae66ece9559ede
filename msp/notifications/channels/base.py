"""What every channel is made of: its fields, the message and target it is given, its errors.
The registry of the channels is the package (:mod:`msp.notifications.channels`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from msp.declared import DeclaredField, secret_names, split_secrets
from msp.declared import Validator as Validator  # re-exported for the channel modules
from msp.declared import require_fields as require_fields  # re-exported
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


ChannelField = DeclaredField  # one configuration field of a channel


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
        return secret_names(self.fields)

    def split(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Validated ``values`` split into (plain configuration, secrets)."""
        return split_secrets(self.fields, self.validate, values)
