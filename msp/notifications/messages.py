"""What an event, a test or a digest says: one :class:`Message` per thing to tell.

Subjects and texts are for people (e-mail); ``data`` is the machine form (the webhook body).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from msp.notifications.channels import Message

KIND_TITLES = {
    "dns.drift": "DNS records changed",
    "dns.finding.opened": "New DNS finding",
    "dns.finding.closed": "DNS finding resolved",
    "report.rejected": "A report was rejected",
    "sender.new": "New sending source seen",
    "policy.proposed": "Policy change proposed",
    "policy.approved": "Policy change approved",
    "policy.published": "Policy change published",
    "policy.verified": "Policy change verified",
    "policy.reminder": "Policy change waiting",
    "policy.rollback_proposed": "Policy rollback proposed",
    "policy.drift": "Published DMARC record drifted",
    "publishing.written": "Record written to DNS",
    "publishing.held": "Record not written: edited by hand",
    "publishing.waiting": "Record not written: waiting for the client's CNAME",
    "publishing.retrying": "DNS provider failed; retrying",
    "publishing.failed": "DNS provider failed; record not written",
}


@dataclass(frozen=True)
class EventFacts:
    """The parts of an event a message needs (loaded by the service)."""

    event_id: int
    kind: str
    severity: str
    at: datetime
    payload: dict[str, Any]
    tenant_id: int
    tenant_slug: str
    tenant_name: str
    domain_id: int | None
    domain_name: str | None


def _title(kind: str) -> str:
    return KIND_TITLES.get(kind, kind.replace(".", " ").replace("_", " ").capitalize())


def _drift_summary(payload: dict[str, Any]) -> str:
    if "key" not in payload:
        return ""
    old, new = payload.get("old") or "(none)", payload.get("new") or "(none)"
    return f"The {payload['key']} record changed.\n  Before: {old}\n  Now:    {new}"


def _senders_summary(payload: dict[str, Any]) -> str:
    senders = payload.get("senders")
    if not isinstance(senders, list) or not senders:
        return ""
    names = [str(s.get("name") or s.get("key")) for s in senders if isinstance(s, dict)]
    count = payload.get("count", len(names))
    return f"{count} new sending source(s): {', '.join(names[:10])}" + (
        " ..." if len(names) > 10 else ""
    )


SUMMARIES = {"dns.drift": _drift_summary, "sender.new": _senders_summary}


def _summary(kind: str, payload: dict[str, Any]) -> str:
    for key in ("summary", "message", "detail", "reason", "error"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    special = SUMMARIES.get(kind)
    return special(payload) if special else ""


def _details(payload: dict[str, Any]) -> list[str]:
    return [
        f"  {key}: {value}"
        for key, value in sorted(payload.items())
        if not isinstance(value, (dict, list))
    ]


def event_message(facts: EventFacts, base_url: str) -> Message:
    """The message about one event."""
    where = facts.domain_name or facts.tenant_name
    subject = f"[{facts.severity.upper()}] {_title(facts.kind)}: {where}"
    summary = _summary(facts.kind, facts.payload)
    base = base_url.rstrip("/")
    link = f"{base}/tenants/{facts.tenant_id}"
    domain_link = f"{base}/domains/{facts.domain_id}" if facts.domain_id else link
    lines = [
        f"{_title(facts.kind)} for {where} ({facts.tenant_name}).",
        *([summary] if summary else []),
        "",
        f"Event:    {facts.kind}",
        f"Severity: {facts.severity}",
        f"At:       {facts.at.isoformat()}",
        *(["Details:", *_details(facts.payload)] if facts.payload else []),
        "",
        f"Open the tenant: {link}",
    ]
    data = {
        "type": "event",
        "event": {**asdict(facts), "at": facts.at.isoformat()},
        "title": _title(facts.kind),
        "summary": summary,
        "link": domain_link,
    }
    return Message(subject=subject[:300], text="\n".join(lines) + "\n", data=data)


def probe_message(tenant_name: str, team_label: str, endpoint_name: str) -> Message:
    """A message that proves an endpoint works."""
    subject = f"Test notification for {team_label} ({tenant_name})"
    text = (
        f"This is a test from the DMARC platform for the {team_label} team of "
        f"{tenant_name}, sent to the endpoint {endpoint_name!r}.\nNo action is needed.\n"
    )
    return Message(
        subject=subject, text=text, data={"type": "test", "tenant": tenant_name, "team": team_label}
    )


def to_row(message: Message) -> dict[str, Any]:
    """A message as stored on a delivery row."""
    return {
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "data": message.data,
    }


def from_row(row: dict[str, Any]) -> Message:
    return Message(
        subject=str(row.get("subject", "")),
        text=str(row.get("text", "")),
        html=row.get("html"),
        data=dict(row.get("data") or {}),
    )
