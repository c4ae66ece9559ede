"""Per-tenant usage: domains in use, and messages reported in a period when reports exist.

The message count reads the reports area's daily roll-up (``report_daily``). Where that area
is not installed or its table is not migrated yet, ``messages`` is None rather than a guess.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, inspect, select

from msp.domains.models import Domain
from msp.extensions import db


@dataclass(frozen=True)
class Usage:
    """A tenant's usage over ``[start, end]`` (days, inclusive)."""

    tenant_id: int
    start: date
    end: date
    domains: int
    messages: int | None  # None: the reports area does not expose message counts here


def domains_in_use(tenant_id: int) -> int:
    stmt = select(func.count()).select_from(Domain).where(Domain.tenant_id == tenant_id)
    return int(db.session.scalar(stmt) or 0)


def _report_daily_model() -> Any | None:
    try:
        module = importlib.import_module("msp.reports.models")
    except ImportError:
        return None
    model = getattr(module, "ReportDaily", None)
    if model is None or not hasattr(model, "messages") or not hasattr(model, "day"):
        return None
    connection = db.session.connection()
    if not inspect(connection).has_table(model.__tablename__):
        return None
    return model


def messages_reported(tenant_id: int, start: date, end: date) -> int | None:
    """Messages in the tenant's aggregate reports for days ``start``..``end``, if known."""
    model = _report_daily_model()
    if model is None:
        return None
    stmt = select(func.coalesce(func.sum(model.messages), 0)).where(
        model.tenant_id == tenant_id, model.day >= start, model.day <= end
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
