"""The portfolio's attention queue: what MSP staff should do now, across every client they
reach. One bounded query per kind (each limited, with the full count beside it), scoped to the
principal like every other read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, func, literal, select

from msp.auth.principal import Principal
from msp.billing.models import BillingAccount
from msp.dns.models import PostureFinding
from msp.domains.models import Domain
from msp.extensions import db
from msp.policy.models import PolicyChange
from msp.reports.models import IpInfo, ReportDaily, ReportMailbox, Sender
from msp.tenancy.models import Tenant
from msp.tenancy.scope import scope_filter
from msp.web.words import stage_words

ATTENTION_LIMIT = 8
STALE_REPORT_DAYS = 3
STALE_LOOKBACK_DAYS = 60  # a domain silent for longer than this is not "stopped", it is gone
UNKNOWN_SENDER_THRESHOLD = 20
UNKNOWN_WINDOW_DAYS = 14
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


def _unknown_senders(principal: Principal, now: datetime) -> tuple[list[AttentionItem], int]:
    since = now.date() - timedelta(days=UNKNOWN_WINDOW_DAYS - 1)
    # Sum per source IP first (no joins over the raw roll-up rows), then name the IPs' senders
    # and their verdicts on that much smaller result: the sender key is a function of the IP.
    per_ip: Any = (
        select(
            ReportDaily.tenant_id,
            ReportDaily.domain_id,
            ReportDaily.source_ip,
            func.sum(ReportDaily.messages).label("messages"),
        )
        .where(ReportDaily.day >= since)
        .group_by(ReportDaily.tenant_id, ReportDaily.domain_id, ReportDaily.source_ip)
    )
    ips = scope_filter(per_ip, ReportDaily, principal).subquery()
    key = func.coalesce(IpInfo.sender_key, literal("ip:", String) + ips.c.source_ip)
    name = func.max(func.coalesce(IpInfo.sender_name, ips.c.source_ip))
    volume = func.sum(ips.c.messages)
    stmt = (
        select(Tenant.id, Tenant.name, Domain.id, Domain.name, name, volume, func.count().over())
        .select_from(ips)
        .join(Domain, Domain.id == ips.c.domain_id)
        .join(Tenant, Tenant.id == ips.c.tenant_id)
        .outerjoin(IpInfo, IpInfo.ip == ips.c.source_ip)
        .outerjoin(
            Sender,
            and_(
                Sender.tenant_id == ips.c.tenant_id,
                Sender.domain_id == ips.c.domain_id,
                Sender.key == key,
            ),
        )
        .where(func.coalesce(Sender.status, "unknown") == "unknown")
        .group_by(Tenant.id, Tenant.name, Domain.id, Domain.name, key)
        .having(volume >= UNKNOWN_SENDER_THRESHOLD)
        .order_by(volume.desc())
        .limit(ATTENTION_LIMIT)
    )
    rows = db.session.execute(stmt).all()
    items = [
        AttentionItem(
            "unknown_sender",
            False,
            t,
            tn,
            f"Unknown sender {sender} sent {int(n):,} "
            f"messages in {UNKNOWN_WINDOW_DAYS} days: approve it or mark it",
            d,
            dn,
        )
        for t, tn, d, dn, sender, n, _ in rows
    ]
    return items, int(rows[0][-1]) if rows else 0


def _reports_stopped(principal: Principal, now: datetime) -> tuple[list[AttentionItem], int]:
    today = now.date()
    # Each domain's last report day by a probe of the roll-up's primary key (tenant, domain,
    # day, ...) per domain, instead of aggregating every row of the look-back window.
    last = (
        select(func.max(ReportDaily.day))
        .where(ReportDaily.tenant_id == Domain.tenant_id, ReportDaily.domain_id == Domain.id)
        .correlate(Domain)
        .scalar_subquery()
    )
    by_domain: Any = select(
        Domain.tenant_id, Domain.id.label("domain_id"), Domain.name, last.label("last")
    )
    latest = scope_filter(by_domain, Domain, principal).subquery()
    rows, total = _limited(
        select(Tenant.id, Tenant.name, latest.c.domain_id, latest.c.name, latest.c.last)
        .join(Tenant, Tenant.id == latest.c.tenant_id)
        .where(
            latest.c.last >= today - timedelta(days=STALE_LOOKBACK_DAYS),
            latest.c.last < today - timedelta(days=STALE_REPORT_DAYS),
        )
        .order_by(latest.c.last),
        Tenant,
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
