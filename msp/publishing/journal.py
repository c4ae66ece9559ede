"""The publisher's entries in the domain's timeline, its events and its audit rows.

Policy's :func:`msp.policy.timeline.record` maps a fixed set of kinds to events, none of
which is a provider write, so the publisher adds its timeline rows itself (the same model,
stage and change) and emits its own event kinds: ``publishing.written``, ``publishing.held``
(a hand edit blocked the write), ``publishing.waiting`` (a delegated domain's CNAME is not
there yet), ``publishing.retrying`` and ``publishing.failed``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from msp.auth.audit import audit
from msp.events import emit_event
from msp.extensions import db
from msp.policy.models import PolicyChange, PolicyTimelineEntry
from msp.publishing.models import Publication

SEVERITY = {
    "written": "info",
    "held": "warning",
    "waiting": "warning",
    "retrying": "warning",
    "failed": "error",
}


def record(
    publication: Publication,
    change: PolicyChange | None,
    kind: str,
    summary: str,
    now: datetime,
    **evidence: Any,
) -> None:
    """Timeline row + event (+ an audit row for a write) for one step of a publication."""
    details = {
        "publication_id": publication.id,
        "provider": publication.provider,
        "zone": publication.zone,
        "records": publication.records,
        "approved_by": publication.approved_by,
        "attempts": publication.attempts,
        **evidence,
    }
    stage = change.from_stage if change is not None else ""
    if change is not None:
        details |= {"kind": change.kind, "to_stage": change.to_stage, "change_id": change.id}
    db.session.add(
        PolicyTimelineEntry(
            tenant_id=publication.tenant_id,
            domain_id=publication.domain_id,
            change_id=change.id if change is not None else None,
            at=now,
            kind=f"dns_{kind}",
            stage=stage,
            summary=summary,
            evidence=details,
        )
    )
    emit_event(
        publication.tenant_id,
        f"publishing.{kind}",
        {"summary": summary, "stage": stage, **details},
        domain_id=publication.domain_id,
        severity=SEVERITY[kind],
    )
    if kind == "written":
        audit(
            "dns.publish",
            "domain",
            publication.domain_id,
            tenant_id=publication.tenant_id,
            changes={k: details[k] for k in ("provider", "zone", "records", "approved_by")},
        )
