"""The channel registry: each channel is a small module declaring its configuration fields
(and which of them are secret), how to validate a configuration and how to send a message.

Adding a channel is adding a module and its ``CHANNEL`` to :data:`CHANNELS`.
"""

from __future__ import annotations

from msp.notifications.channels import email, slack, teams, webhook
from msp.notifications.channels.base import (
    Channel,
    ChannelConfigError,
    ChannelField,
    DeliveryError,
    Message,
    Sender,
    Target,
    UnknownChannel,
    Validator,
    require_fields,
)

__all__ = [
    "CHANNELS",
    "Channel",
    "ChannelConfigError",
    "ChannelField",
    "DeliveryError",
    "Message",
    "Sender",
    "Target",
    "UnknownChannel",
    "Validator",
    "email",
    "get_channel",
    "registry",
    "require_fields",
    "slack",
    "teams",
    "webhook",
]

CHANNELS: tuple[Channel, ...] = (email.CHANNEL, webhook.CHANNEL, slack.CHANNEL, teams.CHANNEL)


def registry() -> dict[str, Channel]:
    """Every registered channel by kind."""
    return {channel.kind: channel for channel in CHANNELS}


def get_channel(kind: str) -> Channel:
    try:
        return registry()[kind]
    except KeyError:
        raise UnknownChannel(f"no channel {kind!r}") from None
