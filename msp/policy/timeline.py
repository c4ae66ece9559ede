"""The timeline of a domain's road: one row per evaluation, proposal, decision, publication,
verification, reminder and rollback, each with its evidence, and the matching event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import g, has_app_context

from msp.auth.principal import current_principal
from msp.events import emit_event
from msp.extensions import db
from msp.policy.models import PolicyChange, PolicyTimelineEntry

# timeline kind -> event kind (notifications route these)
EVENT_KINDS = {
    "evaluated": "policy.evaluated",
    "adopted": "policy.adopted",
    "proposed": "policy.proposed",
    "approved": "policy.approved",
    "rejected": "policy.rejected",
    "scheduled": "policy.scheduled",
    "published": "policy.published",
    "verified": "policy.verified",
    "reminder": "policy.reminder",
    "rollback_proposed": "policy.rollback_proposed",
    "withdrawn": "policy.withdrawn",
    "superseded": "policy.superseded",
    "drift": "policy.drift",
}
SEVERITY = {"rollback_proposed": "warning", "reminder": "warning", "drift": "warning"}


ACTOR_KEY = "policy_actor"  # set on ``flask.g`` by the operator commands (msp.policy.cli)


def actor_label() -> str:
    """Who acts: the principal's label, the operator of a command (``cli:<user>``), or
    ``engine`` for jobs."""
    if not has_app_context():
        return "engine"
    principal = current_principal()
    if principal is not None:
        return principal.label
    return str(g.get(ACTOR_KEY) or "engine")


def record(
    *,
    tenant_id: int,
    domain_id: int,
    kind: str,
    stage: str,
    summary: str,
    evidence: dict[str, Any],
    at: datetime,
    change: PolicyChange | None = None,
    severity: str | None = None,
) -> PolicyTimelineEntry:
    """Add a timeline entry and emit its event, in the caller's transaction."""
    entry = PolicyTimelineEntry(
        tenant_id=tenant_id,
        domain_id=domain_id,
        change_id=change.id if change is not None else None,
        at=at,
        kind=kind,
        stage=stage,
        summary=summary,
        evidence=evidence,
    )
    db.session.add(entry)
    payload = {"summary": summary, "stage": stage, **evidence}
    if change is not None:
        payload["change_id"] = change.id
    emit_event(
        tenant_id,
        EVENT_KINDS[kind],
        payload,
        domain_id=domain_id,
        severity=severity or SEVERITY.get(kind, "info"),
    )
    return entry
