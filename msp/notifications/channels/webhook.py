"""The webhook channel: a JSON POST signed with HMAC-SHA256 over the raw body.

Receivers verify ``X-MSP-Signature: sha256=<hex>`` with the endpoint's secret. The POST goes
through :mod:`msp.notifications.channels.http` (the outbound guard of :mod:`msp.netguard`:
checked addresses only, no redirects).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from msp.notifications.channels.base import Channel, ChannelField, Message, Target, require_fields
from msp.notifications.channels.http import (
    UnsafeTarget,
    check_url,
    config_error,
    post,
    raise_for_channel,
)
from msp.notifications.settings import NotifySettings

__all__ = ["CHANNEL", "UnsafeTarget", "sign", "verify"]

SIGNATURE_HEADER = "X-MSP-Signature"
MIN_SECRET_LENGTH = 16

FIELDS = (
    ChannelField("url", "https:// (or http://) URL that receives the POST"),
    ChannelField(
        "secret", f"HMAC-SHA256 key, at least {MIN_SECRET_LENGTH} characters", secret=True
    ),
)


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str) -> bool:
    """True when ``header`` is the signature of ``body`` under ``secret`` (for receivers)."""
    return hmac.compare_digest(sign(body, secret), header)


def validate(values: dict[str, Any]) -> dict[str, Any]:
    errors = require_fields(FIELDS, values)
    url, secret = values.get("url"), values.get("secret")
    check_url("url", url, errors)
    if "secret" not in errors and (not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH):
        errors["secret"] = [f"at least {MIN_SECRET_LENGTH} characters"]
    config_error(errors)
    return {"url": str(url).strip(), "secret": str(secret)}


def body_of(message: Message, target: Target) -> bytes:
    document = {
        "delivery_id": target.delivery_id,
        "attempt": target.attempt,
        "sent_at": datetime.now(UTC).isoformat(),
        "subject": message.subject,
        **message.data,
    }
    return json.dumps(document, sort_keys=True, default=str).encode()


def send(message: Message, target: Target, settings: NotifySettings) -> str:
    body = body_of(message, target)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, target.secrets["secret"]),
        "X-MSP-Event": str(message.data.get("type", "event")),
        "X-MSP-Delivery": str(target.delivery_id),
    }
    return raise_for_channel(post(str(target.config["url"]), body, headers, settings))


CHANNEL = Channel(
    kind="webhook", label="Webhook (signed JSON POST)", fields=FIELDS, validate=validate, send=send
)
