"""The Slack channel: a Block Kit message to an incoming webhook.

The webhook URL is the credential (whoever has it can post to the channel), so it is a secret
field: sealed at rest, never shown back. Slack answers 200 ``ok``; anything else is a failure
(``404 no_service``: the webhook was revoked, retrying cannot help).
"""

from __future__ import annotations

import json
from typing import Any

from msp.notifications.channels.base import Channel, ChannelField, Message, Target, require_fields
from msp.notifications.channels.chat import ChatFacts, facts_of
from msp.notifications.channels.http import check_url, config_error, post, raise_for_channel
from msp.notifications.settings import NotifySettings

FIELDS = (
    ChannelField("url", "incoming webhook URL (https://hooks.slack.com/services/...)", secret=True),
)
SEVERITY_EMOJI = {
    "critical": ":red_circle:",
    "error": ":large_orange_circle:",
    "warning": ":large_yellow_circle:",
    "info": ":large_blue_circle:",
}
HEADER_LIMIT = 150


def validate(values: dict[str, Any]) -> dict[str, Any]:
    errors = require_fields(FIELDS, values)
    check_url("url", values.get("url"), errors)
    config_error(errors)
    return {"url": str(values["url"]).strip()}


def _context(facts: ChatFacts) -> list[dict[str, str]]:
    parts = []
    if facts.severity:
        emoji = SEVERITY_EMOJI.get(facts.severity, "")
        parts.append(f"{emoji} *Severity:* {facts.severity}".strip())
    if facts.domain:
        parts.append(f"*Domain:* {facts.domain}")
    if facts.tenant:
        parts.append(f"*Client:* {facts.tenant}")
    return [{"type": "mrkdwn", "text": p} for p in parts]


def payload(message: Message) -> dict[str, Any]:
    """The Block Kit message: header (the finding), context (severity, domain), the text, and
    a button into the web view."""
    facts = facts_of(message)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": facts.title[:HEADER_LIMIT]}}
    ]
    if context := _context(facts):
        blocks.append({"type": "context", "elements": context})
    if facts.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": facts.text}})
    if facts.link:
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": "Open"},
            "url": facts.link,
        }
        blocks.append({"type": "actions", "elements": [button]})
    return {"text": message.subject, "blocks": blocks}


def send(message: Message, target: Target, settings: NotifySettings) -> str:
    body = json.dumps(payload(message)).encode()
    response = post(target.secrets["url"], body, {"Content-Type": "application/json"}, settings)
    return raise_for_channel(response, ok=frozenset({200}))


CHANNEL = Channel(
    kind="slack", label="Slack (incoming webhook)", fields=FIELDS, validate=validate, send=send
)
