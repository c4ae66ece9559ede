"""The domain page's activity section: TLS-RPT results, failure reports (stored as redacted as
the tenant chose at ingestion) and the DNS history with the drift each check found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from msp.dns import service as dns_service
from msp.dns.models import RecordDrift
from msp.domains.models import Domain
from msp.extensions import db
from msp.reports.queries import TlsStat, tls_summary
from msp.web.domain_read import window

HISTORY_LIMIT = 15
FAILURES_LIMIT = 20


@dataclass(frozen=True)
class ActivityPage:
    """TLS reports, failure reports and the DNS history of one domain."""

    tls: list[TlsStat]
    failures: list[Any]
    history: list[tuple[Any, list[RecordDrift]]]


def activity(domain: Domain) -> ActivityPage:
    from msp.reports.models import FailureReportRow

    since, until = window()
    failures = list(
        db.session.scalars(
            select(FailureReportRow)
            .where(
                FailureReportRow.tenant_id == domain.tenant_id,
                FailureReportRow.domain_id == domain.id,
            )
            .order_by(FailureReportRow.arrival.desc())
            .limit(FAILURES_LIMIT)
        )
    )
    runs = list(db.session.scalars(dns_service.history_select(domain).limit(HISTORY_LIMIT)))
    drifts = dns_service.drift_of_runs([r.id for r in runs])
    return ActivityPage(
        tls=tls_summary(domain.id, since, until),
        failures=failures,
        history=[(run, drifts.get(run.id, [])) for run in runs],
    )
