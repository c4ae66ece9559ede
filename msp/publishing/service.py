"""The publisher: writes a published change's records through the domain's DNS provider.

Policy issues an approved change at its change window (status ``published``: awaiting DNS).
For a domain whose publish mode is not manual, :func:`publish_change` writes the records
(compare-and-swap against what the last DNS check saw or what the engine last wrote), records
the publication, asks for a DNS check now, and lets policy's verification move the stage. A
hand edit holds the publication (nothing written, an event says what differs) until an
administrator explicitly publishes over it (:func:`publish_domain` with ``force``, audited with
the values before and after); a provider error is retried with back-off and never moves the
stage; the last failed attempt raises an event for the owning team. A delegated domain waits
until the client's CNAME into the MSP's zone is seen (an event names the missing CNAME and its
exact value) and is looked at again every :data:`WAIT_FOR_CNAME`. The service never commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select

from msp.auth.audit import audit
from msp.auth.principal import Principal, current_principal
from msp.db import utcnow
from msp.domains.models import Domain
from msp.errors import Conflict, Forbidden, NotFound
from msp.extensions import db
from msp.policy.models import PolicyChange
from msp.publishing import accounts, journal
from msp.publishing import delegation as cnames
from msp.publishing.models import DnsProvider, DomainPublishing, Publication
from msp.publishing.plan import PublishPlan, RecordPlan, desired_values, targets
from msp.publishing.providers import (
    ProviderError,
    RRset,
    StaleRRset,
)
from msp.publishing.settings import Mode
from msp.publishing.targets import Target, settings, target_of
from msp.publishing.targets import delegation as delegation  # the onboarding CNAMEs
from msp.queues import CHECKS, DEFAULT, enqueue
from msp.tenancy.models import Tenant

AUTO_APPROVER = "auto-escalation"  # msp.policy.changes: who approves an auto-escalation
FINAL = ("written", "held", "failed")
VERIFY_AFTER = timedelta(minutes=2)  # time for the DNS check enqueued with the write
WAIT_FOR_CNAME = timedelta(minutes=15)  # a delegated domain without its CNAME: look again


def _seen(domain: Domain, name: str, rtype: str) -> tuple[str, ...] | None:
    """What the last DNS check saw of the engine's values at ``name`` (None: unknown)."""
    from msp.dns.service import latest_posture

    posture = latest_posture(domain.id)
    if posture is None:
        return None
    if rtype == "TXT" and name == f"_dmarc.{domain.name}":
        if posture.dmarc_status.value == "unknown":
            return None
        here = posture.dmarc_location in (None, name)
        return (posture.dmarc_record,) if posture.dmarc_record and here else ()
    if rtype == "TXT" and name == domain.name:
        return (posture.spf_record,) if posture.spf_record else ()
    if rtype == "MX" and name == domain.name:
        hosts = (posture.result.get("mx") or {}).get("hosts") or []
        return tuple(sorted(f"{h['preference']} {h['exchange'].rstrip('.')}." for h in hosts))
    return None


def _last_written(domain: Domain, name: str, rtype: str) -> tuple[str, ...] | None:
    stmt = (
        select(Publication)
        .where(
            Publication.tenant_id == domain.tenant_id,
            Publication.domain_id == domain.id,
            Publication.status == "written",
        )
        .order_by(Publication.written_at.desc(), Publication.id.desc())
        .limit(1)
    )
    last = db.session.scalar(stmt)
    for record in last.records if last else []:
        if record["name"] == name and record["type"] == rtype:
            return tuple(record["after"])
    return None


def _expected(domain: Domain, name: str, rtype: str) -> tuple[tuple[str, ...], ...]:
    found = (_seen(domain, name, rtype), _last_written(domain, name, rtype))
    return tuple(dict.fromkeys(v for v in found if v is not None))


def make_plan(domain: Domain, records: list[dict[str, Any]], target: Target) -> PublishPlan:
    """Read every RRset the change writes and plan the swap (raises ProviderError)."""
    ttl = settings().ttl
    plans = []
    for name, rtype in targets(records):
        desired = desired_values(records, name, rtype)
        where = target.name_for(name, domain.name)
        if where is None:
            skipped = "not delegable: publish it in the domain's own DNS"
            plans.append(RecordPlan(name, RRset(name, rtype, ttl, ()), desired, (), skipped))
            continue
        current = target.provider.read(target.account, where, rtype)
        if not current.values:
            current = RRset(where, rtype, ttl, ())
        plans.append(RecordPlan(name, current, desired, _expected(domain, name, rtype)))
    return PublishPlan(target.label, target.account.zone, tuple(plans))


def _publication(change: PolicyChange) -> Publication:
    row = db.session.scalar(select(Publication).where(Publication.change_id == change.id))
    if row is None:
        row = Publication(
            tenant_id=change.tenant_id,
            domain_id=change.domain_id,
            change_id=change.id,
            status="pending",
            attempts=0,
            records=[],
            approved_by=change.decided_by,
        )
        db.session.add(row)
        db.session.flush()
    return row


def _wanted(change: PolicyChange, mode: Mode) -> bool:
    """Whether the mode publishes this change without a person asking."""
    if mode is Mode.MANUAL:
        return False
    if mode is Mode.AUTOMATIC or change.kind == "rollback":
        return True  # a rollback stops lost mail: it goes out whoever approved it
    return change.decided_by != AUTO_APPROVER


def _lock_change(change_id: int) -> PolicyChange | None:
    return db.session.scalar(
        select(PolicyChange).where(PolicyChange.id == change_id).with_for_update()
    )


def publish_change(
    change_id: int,
    now: datetime | None = None,
    *,
    force: bool = False,
    over_hand_edit: bool = False,
) -> str:
    """Write one issued change's records if its domain's mode says so (``force``: a person
    asked, whatever the mode, also after a hold or a failure; ``over_hand_edit``: write even
    over a hand edit, which only :func:`publish_domain` asks for, for an administrator).
    Returns ``written``, ``held``, ``waiting`` (a delegated domain's CNAME is missing),
    ``retrying``, ``failed``, or why nothing was done (``manual``, ``not_issued``, ``wait``, or
    the final status of an earlier run)."""
    now = now or utcnow()
    change = _lock_change(change_id)
    if change is None or change.status != "published" or change.closed_at is not None:
        return "not_issued"
    domain = db.session.get(Domain, change.domain_id)
    tenant = db.session.get(Tenant, change.tenant_id)
    if domain is None or tenant is None:
        return "not_issued"
    row = accounts.publishing_of(domain)
    if not force and not _wanted(change, accounts.effective_mode(tenant, domain, row)):
        return "manual"
    publication = _publication(change)
    if publication.status in FINAL and not (force and publication.status != "written"):
        return publication.status
    if not force and publication.next_attempt_at and publication.next_attempt_at > now:
        return "wait"
    try:
        target = target_of(domain, row)
    except Conflict as exc:
        publication.attempts += 1
        return _failed_attempt(publication, change, exc.detail, now)
    publication.provider, publication.zone = target.label, target.account.zone
    publication.provider_id = target.provider_id
    missing = _missing_cnames(domain, change, target)
    if missing:
        return _wait_for_delegation(publication, change, missing, now)
    return _attempt(publication, change, domain, target, now, over_hand_edit)


def _missing_cnames(
    domain: Domain, change: PolicyChange, target: Target
) -> list[cnames.CnameCheck]:
    """The client's CNAMEs this change's records need that DNS does not show yet (a domain
    publishing in its own zone needs none)."""
    if target.delegated_zone is None:
        return []
    labels = {cnames.label_of(name, domain.name) for name, _ in targets(change.records)}
    wanted = [label for label in cnames.DELEGATED_LABELS if label in labels]
    checks = cnames.check(domain.name, target.delegated_zone, current_app.config, wanted)
    return [c for c in checks if not c.ok]


def _attempt(
    publication: Publication,
    change: PolicyChange,
    domain: Domain,
    target: Target,
    now: datetime,
    over_hand_edit: bool,
) -> str:
    publication.attempts += 1
    try:
        plan = make_plan(domain, list(change.records), target)
        publication.records = [r.as_dict() for r in plan.records]
        if plan.hand_edits and not over_hand_edit:
            return _hold(publication, change, plan.hand_edits, now)
        for record in plan.to_write:
            target.provider.write(target.account, record.current, record.after_rrset)
    except StaleRRset as exc:
        return _hold(publication, change, (str(exc),), now)
    except ProviderError as exc:
        return _failed_attempt(publication, change, str(exc), now)
    if plan.hand_edits:
        _audit_override(publication, plan)
    return _written(publication, change, domain, plan, now)


def _audit_override(publication: Publication, plan: PublishPlan) -> None:
    """An administrator wrote over a hand edit: who (the audit row's actor), what differed,
    and every value of each RRset before and after."""
    audit(
        "dns.publish_over_hand_edit",
        "domain",
        publication.domain_id,
        tenant_id=publication.tenant_id,
        changes={
            "publication_id": publication.id,
            "provider": plan.provider,
            "zone": plan.zone,
            "hand_edits": list(plan.hand_edits),
            "records": [
                {
                    "name": r.public_name,
                    "type": r.current.rtype,
                    "before": list(r.current.values),
                    "after": list(r.after_rrset.values),
                }
                for r in plan.to_write
            ],
        },
    )


def _wait_for_delegation(
    publication: Publication,
    change: PolicyChange,
    missing: list[cnames.CnameCheck],
    now: datetime,
) -> str:
    """Nothing written: the client's CNAME is not there yet; look again later. The event is
    raised when the wait starts or what is missing changes, not at every look."""
    problems = "; ".join(c.problem or c.name for c in missing)
    news = publication.status != "waiting" or publication.error != problems
    publication.status, publication.error = "waiting", problems
    publication.next_attempt_at = now + WAIT_FOR_CNAME
    if news:
        summary = "not written: waiting for the client's CNAME into the MSP's zone: " + problems
        missing_view = [c.as_dict() for c in missing]
        journal.record(publication, change, "waiting", summary, now, missing=missing_view)
    return "waiting"


def _hold(
    publication: Publication, change: PolicyChange, reasons: tuple[str, ...], now: datetime
) -> str:
    publication.status, publication.error, publication.next_attempt_at = (
        "held",
        "; ".join(reasons),
        None,
    )
    summary = "not written: the record was edited by hand: " + "; ".join(reasons)
    journal.record(publication, change, "held", summary, now, differences=list(reasons))
    return "held"


def _failed_attempt(
    publication: Publication, change: PolicyChange, error: str, now: datetime
) -> str:
    waits = settings().retry_seconds
    publication.error = error
    if publication.attempts <= len(waits):
        publication.status = "retrying"
        publication.next_attempt_at = now + timedelta(seconds=waits[publication.attempts - 1])
        summary = f"provider error (attempt {publication.attempts}), retrying: {error}"
        journal.record(publication, change, "retrying", summary, now, error=error)
        return "retrying"
    publication.status, publication.next_attempt_at = "failed", None
    summary = f"provider error, gave up after {publication.attempts} attempts: {error}"
    journal.record(publication, change, "failed", summary, now, error=error)
    return "failed"


def _written(
    publication: Publication, change: PolicyChange, domain: Domain, plan: PublishPlan, now: datetime
) -> str:
    publication.status, publication.written_at = "written", now
    publication.error, publication.next_attempt_at = None, None
    lines = [
        f"{r.public_name} {r.current.rtype}: {' + '.join(r.before) or '(none)'} -> "
        f"{' + '.join(r.desired)}"
        for r in plan.records
        if not r.skipped
    ]
    summary = f"written via {plan.provider} in {plan.zone}: " + "; ".join(lines)
    journal.record(publication, change, "written", summary, now)
    _ask_for_verification(change, publication.id, now)
    return "written"


def _ask_for_verification(change: PolicyChange, publication_id: int, now: datetime) -> None:
    """A DNS check now (policy's own checks keep their job ids), then policy's move of the
    change a little later, which verifies against that check: the stage moves minutes after
    the write instead of at the next watch sweep (which stays the safety net)."""
    enqueue(
        "workers.dns.check_domain",
        queue=CHECKS,
        job_id=f"dns-check-{change.domain_id}-publication-{publication_id}",
        domain_id=change.domain_id,
    )
    enqueue(
        "workers.policy.advance_change",
        queue=DEFAULT,
        job_id=f"policy-advance-{change.id}-publication-{publication_id}",
        at=now + VERIFY_AFTER,
        change_id=change.id,
    )


def due_change_ids(now: datetime | None = None) -> list[int]:
    """Issued changes with no publication yet, or whose retry is due (every tenant)."""
    now = now or utcnow()
    stmt = (
        select(PolicyChange.id)
        .join(DomainPublishing, DomainPublishing.domain_id == PolicyChange.domain_id)
        .outerjoin(Publication, Publication.change_id == PolicyChange.id)
        .where(
            PolicyChange.status == "published",
            or_(DomainPublishing.provider_id.is_not(None), DomainPublishing.delegated),
            or_(
                Publication.id.is_(None),
                and_(
                    Publication.status.in_(("retrying", "waiting")),
                    Publication.next_attempt_at <= now,
                ),
                Publication.status == "pending",
            ),
        )
        .order_by(PolicyChange.id)
    )
    return list(db.session.scalars(stmt))


def _open_change(domain: Domain) -> PolicyChange | None:
    from msp.policy.changes import open_change

    return open_change(domain)


def dry_run(domain: Domain) -> dict[str, Any]:
    """What publishing the open change would write now (read from the provider; no write)."""
    change = _open_change(domain)
    if change is None or not change.records:
        raise Conflict(f"{domain.name} has no open change to publish")
    try:
        plan = make_plan(
            domain, list(change.records), target_of(domain, accounts.publishing_of(domain))
        )
    except ProviderError as exc:
        raise Conflict(f"the DNS provider could not be read: {exc}") from exc
    return {"change_id": change.id, "change_status": change.status, **plan.as_dict()}


def may_publish_over_hand_edit(principal: Principal | None, tenant_id: int) -> bool:
    """Writing over a hand edit is for administrators: the MSP's, or the client's own
    tenant_admin. ``None`` is the operator at the server's command line."""
    if principal is None:
        return True
    if not principal.can_manage(tenant_id):
        return False
    return principal.is_msp_admin or principal.tenant_roles.get(tenant_id) == "tenant_admin"


def publish_domain(
    domain: Domain, now: datetime | None = None, *, force: bool = False
) -> dict[str, Any]:
    """A person publishes the domain's issued change now, whatever the mode. ``force`` writes
    even over a hand edit (administrators only, Forbidden otherwise; audited as
    ``dns.publish_over_hand_edit`` with the values before and after). Returns the change id,
    the outcome of :func:`publish_change` and the publication (:func:`publication_view`)."""
    if force and not may_publish_over_hand_edit(current_principal(), domain.tenant_id):
        raise Forbidden("only an administrator may publish over a hand edit")
    change = _open_change(domain)
    if change is None:
        raise Conflict(f"{domain.name} has no open change")
    if change.status != "published":
        raise Conflict(
            f"change {change.id} is {change.status}: it is written once issued at its window"
        )
    outcome = publish_change(change.id, now, force=True, over_hand_edit=force)
    audit(
        "dns.publish_request",
        "domain",
        domain.id,
        tenant_id=domain.tenant_id,
        changes={"change_id": change.id, "force": force, "outcome": outcome},
    )
    publication = db.session.scalar(select(Publication).where(Publication.change_id == change.id))
    return {
        "change_id": change.id,
        "outcome": outcome,
        "publication": publication_view(publication),
    }


def delegation_status(domain: Domain) -> dict[str, Any]:
    """The onboarding CNAMEs (:func:`delegation`) with what DNS shows for each of the three
    that point into the MSP's zone: ``check`` is ``ok``, ``missing`` (no CNAME), ``wrong``
    (``found`` is where it points instead) or ``unknown`` (DNS did not answer); ``problem``
    says what to do, in words. The ``mta-sts`` host's CNAME is not looked up (``check`` empty):
    the certificate for it shows whether it reaches this app."""
    view = delegation(domain)
    zone = view["hosted_zone"]
    found = {c.name: c for c in cnames.check(domain.name, zone, current_app.config)}
    for record in view["records"]:
        seen = found.get(record["name"])
        record["check"], record["found"], record["problem"] = _cname_words(seen)
    return view


def _cname_words(seen: cnames.CnameCheck | None) -> tuple[str, str, str]:
    if seen is None:
        return "", "", ""
    if seen.ok:
        return "ok", seen.found or "", ""
    if seen.error:
        return "unknown", "", seen.problem or ""
    return ("wrong" if seen.found else "missing"), seen.found or "", seen.problem or ""


def publication_view(row: Publication | None) -> dict[str, Any] | None:
    if row is None:
        return None
    change = db.session.get(PolicyChange, row.change_id) if row.change_id else None
    return {
        "id": row.id,
        "change_id": row.change_id,
        "status": row.status,
        "provider": row.provider,
        "zone": row.zone,
        "records": row.records,
        "approved_by": row.approved_by,
        "attempts": row.attempts,
        "error": row.error,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "written_at": row.written_at.isoformat() if row.written_at else None,
        "verified_at": change.verified_at.isoformat() if change and change.verified_at else None,
    }


def last_publication(domain: Domain) -> Publication | None:
    return db.session.scalar(
        select(Publication)
        .where(Publication.tenant_id == domain.tenant_id, Publication.domain_id == domain.id)
        .order_by(Publication.id.desc())
        .limit(1)
    )


def state(domain: Domain) -> dict[str, Any]:
    """The domain's publishing state: mode, provider, zone, last publication and the diff."""
    tenant = db.session.get(Tenant, domain.tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {domain.tenant_id} not found")
    row = accounts.publishing_of(domain)
    provider = db.session.get(DnsProvider, row.provider_id) if row and row.provider_id else None
    diff: dict[str, Any] | None = None
    error = None
    if _open_change(domain) is not None and (provider is not None or (row and row.delegated)):
        try:
            diff = dry_run(domain)
        except Conflict as exc:
            error = exc.detail
    return {
        "domain_id": domain.id,
        "domain": domain.name,
        "mode": accounts.effective_mode(tenant, domain, row).value,
        "provider": provider.name if provider else None,
        "provider_id": provider.id if provider else None,
        "zone": (row.zone if row else None) or domain.name,
        "delegated": bool(row and row.delegated),
        "mta_sts_mode": row.mta_sts_mode if row else None,
        "last_publication": publication_view(last_publication(domain)),
        "diff": diff,
        "error": error,
    }
