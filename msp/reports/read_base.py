"""Shared pieces of the reports read side: a domain by id, the sender key of a source IP,
the tenant's sender verdicts and the roll-up filter for a window."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import String, func, literal, select

from msp.domains.models import Domain
from msp.errors import NotFound
from msp.extensions import db
from msp.reports.models import IpInfo, ReportDaily, Sender


def as_day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def domain_or_404(domain_id: int) -> Domain:
    domain = db.session.get(Domain, domain_id)
    if domain is None:
        raise NotFound(f"domain {domain_id} not found")
    return domain


def sender_key(ip_column: Any) -> Any:
    return func.coalesce(IpInfo.sender_key, literal("ip:", String) + ip_column)


def sender_statuses(domain: Domain, keys: list[str] | None = None) -> dict[str, str]:
    """The tenant's verdicts on the domain's senders (all, or only ``keys``)."""
    stmt = select(Sender.key, Sender.status).where(
        Sender.tenant_id == domain.tenant_id, Sender.domain_id == domain.id
    )
    if keys is not None:
        stmt = stmt.where(Sender.key.in_(keys))
    return {key: status for key, status in db.session.execute(stmt)}


def sender_summaries(domain: Domain, keys: list[str] | None = None) -> dict[str, Any]:
    """Per sender key: (status, first seen, last seen) as kept on ``report_sender`` by the
    enrichment (all senders of the domain, or only ``keys``): the all-time history without
    reading every daily roll-up of the domain."""
    stmt = select(Sender.key, Sender.status, Sender.first_seen, Sender.last_seen).where(
        Sender.tenant_id == domain.tenant_id, Sender.domain_id == domain.id
    )
    if keys is not None:
        stmt = stmt.where(Sender.key.in_(keys))
    return {key: (status, first, last) for key, status, first, last in db.session.execute(stmt)}


def daily_where(domain: Domain, since: date | None, until: date | None) -> list[Any]:
    where = [ReportDaily.tenant_id == domain.tenant_id, ReportDaily.domain_id == domain.id]
    if since is not None:
        where.append(ReportDaily.day >= since)
    if until is not None:
        where.append(ReportDaily.day <= until)
    return where
