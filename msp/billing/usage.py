"""Per-tenant usage: domains in use, and messages reported in a period.

The message count reads the reports area's daily roll-up (``report_daily``) directly: billing
builds on reports, so a renamed column fails the type checker here instead of turning silently
into "no count".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from msp.domains.models import Domain
from msp.extensions import db
from msp.reports.models import ReportDaily


@dataclass(frozen=True)
class Usage:
    """A tenant's usage over ``[start, end]`` (days, inclusive)."""

    tenant_id: int
    start: date
    end: date
    domains: int
    messages: int


def domains_in_use(tenant_id: int) -> int:
    stmt = select(func.count()).select_from(Domain).where(Domain.tenant_id == tenant_id)
    return int(db.session.scalar(stmt) or 0)


def messages_reported(tenant_id: int, start: date, end: date) -> int:
    """Messages in the tenant's aggregate reports for days ``start``..``end``."""
    stmt = select(func.coalesce(func.sum(ReportDaily.messages), 0)).where(
        ReportDaily.tenant_id == tenant_id, ReportDaily.day >= start, ReportDaily.day <= end
    )
    return int(db.session.scalar(stmt) or 0)


def usage_for(tenant_id: int, start: date, end: date) -> Usage:
    return Usage(
        tenant_id=tenant_id,
        start=start,
        end=end,
        domains=domains_in_use(tenant_id),
        messages=messages_reported(tenant_id, start, end),
    )
