"""The reports area's service: receive raw files, route later, reprocess, verdicts on senders.

Callers (API, CLI, jobs, pages) come here; this module decides what is stored, what is enqueued
and which events are emitted, and never commits. Processing stored files lives in
:mod:`msp.reports.processing`, the read side used by the policy engine and the DNS checker
(``sender_stats``, ``coverage``, ``daily_rows``, ``learnt_dkim_selectors``) in
:mod:`msp.reports.queries`; both are re-exported here.
"""

from __future__ import annotations

from typing import Unpack

from sqlalchemy import or_, select

from msp.auth.audit import audit
from msp.auth.principal import Principal
from msp.domains.models import Domain
from msp.errors import BadRequest, Forbidden, NotFound, ValidationFailed
from msp.extensions import db
from msp.reports import store
from msp.reports.config import ReportsConfig, current_config
from msp.reports.models import SENDER_STATUSES, RawReport, Sender
from msp.reports.origin import Origin, OriginFields
from msp.reports.pipeline import Outcome
from msp.reports.processing import (
    enqueue_parse,
    enqueue_parse_bucket,
    ingest_files,
    pending_raw_ids,
    process_raw,
    process_raws,
    requeue_stale,
    tenants_touched,
)
from msp.reports.queries import (
    Coverage,
    DailyRow,
    SenderPage,
    SenderStat,
    TlsPage,
    TlsStat,
    coverage,
    daily_rows,
    learnt_dkim_selectors,
    sender_page,
    sender_stats,
    tls_page,
    tls_summary,
)
from msp.reports.sender_queries import known_sender_keys, well_formed_key
from msp.reports.summaries import recount_unknown
from msp.tenancy.models import Tenant

__all__ = [
    "Coverage",
    "DailyRow",
    "Origin",
    "Outcome",
    "ReportsConfig",
    "SenderPage",
    "SenderStat",
    "TlsPage",
    "TlsStat",
    "coverage",
    "current_config",
    "daily_rows",
    "ingest_files",
    "ingest_now",
    "learnt_dkim_selectors",
    "pending_raw_ids",
    "process_raw",
    "process_raws",
    "receive",
    "receive_many",
    "reprocess",
    "requeue_stale",
    "route_pending",
    "sender_page",
    "sender_stats",
    "set_sender_status",
    "tenants_touched",
    "tls_page",
    "tls_summary",
    "upload_tenant",
]


def receive(
    data: bytes,
    origin: Origin | None = None,
    *,
    config: ReportsConfig | None = None,
    **fields: Unpack[OriginFields],
) -> RawReport:
    """Store one received file and enqueue its parse (sent when the transaction commits).

    Where it came from is an :class:`Origin`, or its fields as keyword arguments.
    """
    cfg = config or current_config()
    raw = store.store_raw(data, Origin.of(origin, fields), object_store=cfg.object_store)
    enqueue_parse_bucket(raw.id)
    return raw


def ingest_now(
    data: bytes,
    origin: Origin | None = None,
    *,
    config: ReportsConfig | None = None,
    **fields: Unpack[OriginFields],
) -> tuple[RawReport, list[Outcome]]:
    """Store one file and process it in this transaction (the CLI's path; no parse job)."""
    cfg = config or current_config()
    raw = store.store_raw(data, Origin.of(origin, fields), object_store=cfg.object_store)
    return raw, process_raw(raw.id, config=cfg)


def reprocess(raw: RawReport) -> RawReport:
    """Put a rejected or unrouted file back in the queue (after a fix, or a new domain)."""
    raw.status = "pending"
    raw.error = None
    enqueue_parse(raw.id)
    db.session.flush()
    audit("report.reprocess", "report_raw", raw.id, tenant_id=raw.tenant_id)
    return raw


def route_pending(domain: Domain) -> int:
    """Re-run every unrouted file about ``domain`` or its subdomains; how many were queued."""
    stmt = select(RawReport).where(
        RawReport.status == "unrouted",
        or_(RawReport.domain == domain.name, RawReport.domain.like(f"%.{domain.name}")),
    )
    raws = list(db.session.scalars(stmt))
    for raw in raws:
        reprocess(raw)
    return len(raws)


def upload_tenant(principal: Principal, tenant_id: int | None) -> int | None:
    """The tenant an upload is restricted to: None (route anywhere) only for MSP staff who
    reach every tenant; anyone else writes only where they may manage (the same reach as reads).
    """
    if tenant_id is not None:
        if not principal.reaches(tenant_id) or db.session.get(Tenant, tenant_id) is None:
            raise NotFound(f"tenant {tenant_id} not found")
        if not principal.can_manage(tenant_id):
            raise Forbidden("you may view but not upload reports for this tenant")
        return tenant_id
    if principal.is_msp and principal.all_tenants:
        return None
    manageable = [t for t in principal.tenant_roles if principal.can_manage(t)]
    if len(manageable) != 1:
        raise BadRequest("say which tenant the reports are for (tenant_id)")
    return manageable[0]


def receive_many(files: list[tuple[str, bytes]], *, tenant_id: int | None) -> list[RawReport]:
    """Store several uploaded files; each gets its own parse job."""
    cfg = current_config()
    files = [(name, data) for name, data in files if data]
    if not files:
        raise BadRequest("no report file (or only empty ones) in the request")
    return [
        receive(data, Origin("upload", filename=name, tenant_id=tenant_id), config=cfg)
        for name, data in files
    ]


def set_sender_status(domain: Domain, key: str, status: str, note: str | None = None) -> Sender:
    """The tenant's verdict on a sender: approved, forwarder, abuse (or back to unknown)."""
    if status not in SENDER_STATUSES:
        raise ValidationFailed(
            f"status must be one of {', '.join(SENDER_STATUSES)}", errors={"status": ["invalid"]}
        )
    if not well_formed_key(key):
        raise ValidationFailed("not a sender key", errors={"key": ["malformed"]})
    sender = db.session.scalar(
        select(Sender).where(
            Sender.tenant_id == domain.tenant_id, Sender.domain_id == domain.id, Sender.key == key
        )
    )
    if sender is None:
        if key not in known_sender_keys(domain.id, [key]):
            raise NotFound(f"no sender {key} has been seen for {domain.name}")
        name = key.removeprefix("ip:")
        sender = Sender(
            tenant_id=domain.tenant_id, domain_id=domain.id, key=key[:253], name=name[:255]
        )
        db.session.add(sender)
    sender.status = status
    if note is not None:
        sender.note = note
    db.session.flush()
    recount_unknown(domain.tenant_id, domain.id)  # the pages' unknown-sender volume
    audit(
        "sender.verdict",
        "sender",
        key,
        tenant_id=domain.tenant_id,
        changes={"domain": domain.name, "status": status, "note": note},
    )
    return sender
