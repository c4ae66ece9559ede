"""The portfolio's attention queue: what MSP staff should do now, across every client they
reach. One bounded query per kind (each limited, with the full count beside it), scoped to the
principal like every other read. Report volumes come from the per-domain summaries
(``report_domain_day``, ``report_domain_latest``), never from the per-IP roll-up; the
thresholds are deployment settings
(``MSP_REPORTS_ATTENTION_*``, :mod:`msp.reports.settings`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from msp.auth.principal import Principal
from msp.billing.models import BillingAccount
from msp.dns.models import PostureFinding
from msp.domains.models import Domain
from msp.extensions import db
from msp.policy.models import PolicyChange
from msp.reports.models import ReportDomainDay, ReportDomainLatest, ReportMailbox
from msp.reports.settings import AttentionLimits
from msp.tenancy.models import Tenant
from msp.tenancy.scope import scope_filter
from msp.web.words import stage_words

ATTENTION_LIMIT = 8
PAST_DUE = ("past_due", "unpaid")


@dataclass(frozen=True)
class AttentionItem:
    """One thing to do: which client, which domain, and a sentence saying what and why."""

    kind: str
    urgent: bool
    tenant_id: int
    tenant_name: str
    text: str
    domain_id: int | None = None
    domain_name: str | None = None


def _limited(stmt: Any, model: Any, principal: Principal) -> tuple[list[Any], int]:
    stmt = scope_filter(stmt.add_columns(func.count().over()), model, principal)
    rows = db.session.execute(stmt.limit(ATTENTION_LIMIT)).all()
    return [row[:-1] for row in rows], int(rows[0][-1]) if rows else 0


def _waiting_approval(principal: Principal, now: datetime) -> tuple[list[AttentionItem], int]:
    rows, total = _limited(
        select(
            Tenant.id,
            Tenant.name,
            Domain.id,
            Domain.name,
            PolicyChange.to_stage,
            PolicyChange.proposed_at,
        )
        .join(Domain, Domain.id == PolicyChange.domain_id)
        .join(Tenant, Tenant.id == PolicyChange.tenant_id)
        .where(PolicyChange.status == "proposed")
        .order_by(PolicyChange.proposed_at),
        PolicyChange,
        principal,
    )
    items = [
        AttentionItem(
            "approval",
            False,
            t,
            tn,
            f"Next step ({stage_words(stage)}) proposed {at:%d %b}: waiting for your approval",
            d,
            dn,
        )
        for t, tn, d, dn, stage, at in rows
    ]
    return items, total


def _issued_not_published(principal: Principal, now: datetime) -> tuple[list[AttentionItem], int]:
    rows, total = _limited(
        select(Tenant.id, Tenant.name, Domain.id, Domain.name, PolicyChange.published_at)
        .join(Domain, Domain.id == PolicyChange.domain_id)
        .join(Tenant, Tenant.id == PolicyChange.tenant_id)
        .where(PolicyChange.status == "published")
        .order_by(PolicyChange.published_at),
        PolicyChange,
        principal,
    )
    items = [
        AttentionItem(
            "unpublished",
            True,
            t,
            tn,
            "A new record was issued"
            f"{f' on {at:%d %b}' if at else ''} but is not in DNS yet: publish it",
            d,
            dn,
        )
        for t, tn, d, dn, at in rows
    ]
    return items, total


def _broken_records(principal: Principal, now: datetime) -> tuple[list[AttentionItem], int]:
    rows, total = _limited(
        select(
            Tenant.id,
            Tenant.name,
            Domain.id,
            Domain.name,
            func.count(),
            func.min(PostureFinding.message),
        )
        .join(Domain, Domain.id == PostureFinding.domain_id)
        .join(Tenant, Tenant.id == PostureFinding.tenant_id)
        .where(PostureFinding.closed_at.is_(None), PostureFinding.severity == "error")
        .group_by(Tenant.id, Tenant.name, Domain.id, Domain.name)
        .order_by(func.count().desc(), Domain.name),
        PostureFinding,
        principal,
    )
    items = [
        AttentionItem(
            "broken", True, t, tn, f"{n} broken record{'s' if n != 1 else ''}: {message}", d, dn
        )
        for t, tn, d, dn, n, message in rows
    ]
    return items, total


def _limits() -> AttentionLimits:
    return AttentionLimits.from_mapping(current_app.config)


def _unknown_senders(principal: Principal, now: datetime) -> tuple[list[AttentionItem], int]:
    limits = _limits()
    since = now.date() - timedelta(days=limits.unknown_days - 1)
    volume = func.sum(ReportDomainDay.unknown)
    per_domain: Any = (
        select(
            ReportDomainDay.tenant_id,
            ReportDomainDay.domain_id,
            volume.label("unknown"),
            func.count().over().label("of"),
        )
        .where(ReportDomainDay.day >= since)
        .group_by(ReportDomainDay.tenant_id, ReportDomainDay.domain_id)
        .having(volume >= limits.unknown_messages)
        .order_by(volume.desc(), ReportDomainDay.domain_id)
        .limit(ATTENTION_LIMIT)
    )
    top = scope_filter(per_domain, ReportDomainDay, principal).subquery()
    rows = db.session.execute(
        select(Tenant.id, Tenant.name, Domain.id, Domain.name, top.c.unknown, top.c.of)
        .select_from(top)
        .join(Domain, Domain.id == top.c.domain_id)
        .join(Tenant, Tenant.id == top.c.tenant_id)
        .order_by(top.c.unknown.desc(), Domain.id)
    ).all()
    items = [
        AttentionItem(
            "unknown_sender",
            False,
            t,
            tn,
            f"{int(n):,} messages in {limits.unknown_days} days came from senders nobody has "
            "approved yet: approve each sender or mark it",
            d,
            dn,
        )
        for t, tn, d, dn, n, _ in rows
    ]
    return items, int(rows[0][-1]) if rows else 0


def _reports_stopped(principal: Principal, now: datetime) -> tuple[list[AttentionItem], int]:
    limits = _limits()
    today = now.date()
    # One row per domain with its last day of data: a range read of last_day returns only the
    # silent domains (no probe of every domain reached).
    last = ReportDomainLatest.last_day
    rows, total = _limited(
        select(Tenant.id, Tenant.name, Domain.id, Domain.name, last)
        .select_from(ReportDomainLatest)
        .join(Domain, Domain.id == ReportDomainLatest.domain_id)
        .join(Tenant, Tenant.id == ReportDomainLatest.tenant_id)
        .where(
            last >= today - timedelta(days=limits.stopped_lookback_days),
            last < today - timedelta(days=limits.stopped_days),
        )
        .order_by(last, Domain.id),
        ReportDomainLatest,
        principal,
    )
    items = [
        AttentionItem(
            "reports_stopped",
            True,
            t,
            tn,
            f"No reports since {day:%d %b} "
            f"({(today - day).days} days): check the DMARC record's rua address",
            d,
            dn,
        )
        for t, tn, d, dn, day in rows
    ]
    return items, total


def _mailboxes_failing(principal: Principal, now: datetime) -> tuple[list[AttentionItem], int]:
    rows, total = _limited(
        select(
            ReportMailbox.tenant_id,
            Tenant.name,
            ReportMailbox.name,
            ReportMailbox.last_error,
            ReportMailbox.consecutive_failures,
        )
        .outerjoin(Tenant, Tenant.id == ReportMailbox.tenant_id)
        .where(ReportMailbox.enabled.is_(True), ReportMailbox.last_error.is_not(None))
        .order_by(ReportMailbox.consecutive_failures.desc()),
        ReportMailbox,
        principal,
    )
    items = [
        AttentionItem(
            "mailbox",
            True,
            t or 0,
            tn or "All clients (MSP mailbox)",
            f"Report mailbox {name} fails ({n} tries in a row): {error}",
        )
        for t, tn, name, error, n in rows
    ]
    return items, total


def _billing_past_due(principal: Principal, now: datetime) -> tuple[list[AttentionItem], int]:
    rows, total = _limited(
        select(Tenant.id, Tenant.name, BillingAccount.status)
        .join(Tenant, Tenant.id == BillingAccount.tenant_id)
        .where(BillingAccount.status.in_(PAST_DUE) | BillingAccount.delinquent.is_(True))
        .order_by(Tenant.name),
        BillingAccount,
        principal,
    )
    items = [
        AttentionItem(
            "billing", True, t, tn, f"Payment overdue (subscription {status.replace('_', ' ')})"
        )
        for t, tn, status in rows
    ]
    return items, total


KINDS: dict[str, tuple[str, Callable[[Principal, datetime], tuple[list[AttentionItem], int]]]] = {
    "broken": ("Broken records", _broken_records),
    "unpublished": ("Records issued, not yet published", _issued_not_published),
    "reports_stopped": ("Reports stopped arriving", _reports_stopped),
    "approval": ("Escalations waiting for approval", _waiting_approval),
    "unknown_sender": ("Unknown senders", _unknown_senders),
    "mailbox": ("Report mailboxes failing", _mailboxes_failing),
    "billing": ("Billing past due", _billing_past_due),
}


def attention_queue(
    principal: Principal, now: datetime
) -> tuple[list[AttentionItem], dict[str, int]]:
    """Every kind's first items (urgent kinds first) and each kind's full count."""
    items: list[AttentionItem] = []
    counts: dict[str, int] = {}
    for kind, (_, build) in KINDS.items():
        found, total = build(principal, now)
        items += found
        counts[kind] = total
    return items, counts
