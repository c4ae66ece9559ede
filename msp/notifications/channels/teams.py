"""The Microsoft Teams channel: an Adaptive Card posted to a Workflows ("When a Teams webhook
request is received") URL. Office 365 connectors and their MessageCard are retired; Workflows
take a message whose attachment is an Adaptive Card, and answer 202 with an empty body.

The URL carries its signature (``sig=``), so it is a secret field: sealed, never shown back.
"""

from __future__ import annotations

import json
from typing import Any

from msp.notifications.channels.base import Channel, ChannelField, Message, Target, require_fields
from msp.notifications.channels.chat import facts_of
from msp.notifications.channels.http import check_url, config_error, post, raise_for_channel
from msp.notifications.settings import NotifySettings

FIELDS = (ChannelField("url", "Teams Workflows webhook URL (with its sig=)", secret=True),)
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"  # the highest version Teams renders
SEVERITY_COLORS = {
    "critical": "Attention",
    "error": "Attention",
    "warning": "Warning",
    "info": "Accent",
}


def validate(values: dict[str, Any]) -> dict[str, Any]:
    errors = require_fields(FIELDS, values)
    check_url("url", values.get("url"), errors)
    config_error(errors)
    return {"url": str(values["url"]).strip()}


def card(message: Message) -> dict[str, Any]:
    """The Adaptive Card: title, facts (severity, domain, client), text, an Open button."""
    facts = facts_of(message)
    color = SEVERITY_COLORS.get(facts.severity or "", "Default")
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": facts.title,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": color,
        },
    ]
    shown = [("Severity", facts.severity), ("Domain", facts.domain), ("Client", facts.tenant)]
    if pairs := [{"title": t, "value": v} for t, v in shown if v]:
        body.append({"type": "FactSet", "facts": pairs})
    if facts.text:
        body.append({"type": "TextBlock", "text": facts.text, "wrap": True})
    content: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if facts.link:
        content["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": facts.link}]
    return content


def payload(message: Message) -> dict[str, Any]:
    attachment = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": card(message),
    }
    return {"type": "message", "attachments": [attachment]}


def send(message: Message, target: Target, settings: NotifySettings) -> str:
    body = json.dumps(payload(message)).encode()
    response = post(target.secrets["url"], body, {"Content-Type": "application/json"}, settings)
    return raise_for_channel(response)  # Workflows answer 202, connectors answered 200


CHANNEL = Channel(
    kind="teams",
    label="Microsoft Teams (Workflows webhook)",
    fields=FIELDS,
    validate=validate,
    send=send,
)
