"""What a chat message says (Slack, Teams): a title, the severity, the domain, a few lines of
text and a link into the web view, read from a :class:`Message` of any kind (event, test,
digest). The channels turn it into Block Kit or an Adaptive Card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msp.notifications.channels.base import Message

MAX_LINES = 12
MAX_TEXT = 2900  # Slack's section text limit is 3000 characters


@dataclass(frozen=True)
class ChatFacts:
    title: str
    severity: str | None
    domain: str | None
    tenant: str | None
    text: str
    link: str | None


def _text(message: Message) -> str:
    lines = [line for line in message.text.splitlines() if line.strip()][:MAX_LINES]
    return "\n".join(lines)[:MAX_TEXT]


def facts_of(message: Message) -> ChatFacts:
    data: dict[str, Any] = message.data
    if data.get("type") == "event":
        event = data.get("event") or {}
        return ChatFacts(
            title=str(data.get("title") or message.subject),
            severity=str(event.get("severity") or "info"),
            domain=event.get("domain_name"),
            tenant=event.get("tenant_name"),
            text=str(data.get("summary") or "") or _text(message),
            link=data.get("link"),
        )
    digest = data.get("digest") or {}
    return ChatFacts(
        title=message.subject,
        severity=None,
        domain=None,
        tenant=digest.get("tenant_name") or data.get("tenant"),
        text=_text(message),
        link=data.get("link") or digest.get("link"),
    )
