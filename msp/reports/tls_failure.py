"""Ingestion of SMTP TLS reports (RFC 8460) and DMARC failure reports (RFC 6591 / RFC 9991).

Both are small and rare next to aggregate reports, so each is claimed and written in its own
savepoint. Failure reports carry personal data: unless the tenant's settings say otherwise
(``failure_reports_redacted``), subject, message id, sample headers and the local parts of
addresses are dropped, and every row expires after ``failure_report_retention_days``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

from msp.extensions import db
from msp.reports import rollup
from msp.reports.models import FailureReportRow, TlsResult
from msp.reports.parsing import FailureReport, TlsReport
from msp.reports.pipeline import Context, Outcome, claim_report, cut, not_routed, route_for
from msp.reports.routing import Route
from msp.tenancy.models import Tenant


def ingest_tls(report: TlsReport, ctx: Context) -> Outcome:
    domain = report.policies[0].policy_domain
    org = report.org_name.lower()
    where = route_for(domain, ctx)
    if where.status != "routed":
        return not_routed(where, "smtp_tls", org, report.report_id, domain)
    sessions = sum(p.successful_sessions + p.failed_sessions for p in report.policies)
    with db.session.begin_nested():
        report_pk = claim_report(
            "smtp_tls",
            org,
            report.report_id,
            domain,
            where,
            raw_id=ctx.raw_id,
            begin=report.begin,
            end=report.end,
            email=cut(report.contact_info, 320),
            generator=None,
            policy={},
            records=len(report.policies),
            messages=sessions,
        )
        if report_pk is None:
            return Outcome(
                "duplicate",
                "smtp_tls",
                org,
                report.report_id,
                domain,
                where.tenant_id,
                where.domain_id,
            )
        day = rollup.report_days(report.begin, report.end)[0][0]
        db.session.add_all(_tls_rows(report, where, report_pk, day))
        db.session.flush()
    return Outcome(
        "ingested",
        "smtp_tls",
        org,
        report.report_id,
        domain,
        where.tenant_id,
        where.domain_id,
        report_pk,
        len(report.policies),
        sessions,
    )


def _tls_rows(report: TlsReport, where: Route, report_pk: int, day: date) -> list[TlsResult]:
    rows = []
    common = {
        "tenant_id": where.tenant_id,
        "domain_id": where.domain_id,
        "report_id": report_pk,
        "day": day,
    }
    for policy in report.policies:
        base = {
            **common,
            "policy_domain": policy.policy_domain[:253],
            "policy_type": policy.policy_type[:32],
        }
        types: dict[str, int] = {}
        per_mx: dict[str, dict[str, int]] = {}
        for failure in policy.failures:
            types[failure.result_type] = types.get(failure.result_type, 0) + failure.failed_sessions
            mx = (failure.receiving_mx_hostname or "").lower().rstrip(".")[:253]
            if mx:
                bucket = per_mx.setdefault(mx, {})
                bucket[failure.result_type] = (
                    bucket.get(failure.result_type, 0) + failure.failed_sessions
                )
        rows.append(
            TlsResult(
                **base,
                mx_host=None,
                successful=policy.successful_sessions,
                failed=policy.failed_sessions,
                failure_types=types,
            )
        )
        rows.extend(
            TlsResult(**base, mx_host=mx, successful=0, failed=sum(b.values()), failure_types=b)
            for mx, b in per_mx.items()
        )
    return rows


def _redact_address(value: str | None) -> str | None:
    if not value or "@" not in value:
        return value
    return "***@" + value.rsplit("@", 1)[1]


def ingest_failure(report: FailureReport, ctx: Context) -> Outcome:
    domain = report.reported_domain
    org = (report.user_agent or "failure-report").lower()[:200]
    # The same failure report re-sent (or with other line endings) is the same report.
    identity = "|".join(
        str(v)
        for v in (
            report.message_id,
            report.arrival.isoformat(),
            report.source_ip,
            report.reported_domain,
            report.header_from,
        )
    )
    ext = hashlib.sha256(identity.encode()).hexdigest()
    where = route_for(domain, ctx)
    if where.status != "routed":
        return not_routed(where, "failure", org, ext, domain)
    tenant = db.session.get(Tenant, where.tenant_id)
    settings = (tenant.settings if tenant is not None else None) or {}
    redact = bool(settings.get("failure_reports_redacted", True))
    retention = int(settings.get("failure_report_retention_days", 30))
    with db.session.begin_nested():
        report_pk = claim_report(
            "failure",
            org,
            ext,
            domain,
            where,
            raw_id=ctx.raw_id,
            begin=report.arrival,
            end=report.arrival,
            email=None,
            generator=cut(report.user_agent, 255),
            policy={},
            records=1,
            messages=1,
        )
        if report_pk is None:
            return Outcome(
                "duplicate", "failure", org, ext, domain, where.tenant_id, where.domain_id
            )
        db.session.add(_failure_row(report, where, report_pk, redact, retention))
        db.session.flush()
    return Outcome(
        "ingested", "failure", org, ext, domain, where.tenant_id, where.domain_id, report_pk, 1, 1
    )


def _failure_row(
    report: FailureReport, where: Route, report_pk: int, redact: bool, retention_days: int
) -> FailureReportRow:
    addr = _redact_address if redact else (lambda v: v)
    return FailureReportRow(
        tenant_id=where.tenant_id,
        domain_id=where.domain_id,
        report_id=report_pk,
        arrival=report.arrival,
        source_ip=cut(report.source_ip, 45),
        feedback_type=cut(report.feedback_type, 32),
        auth_failure=list(report.auth_failure),
        delivery_result=cut(report.delivery_result, 32),
        dkim_domain=cut(report.dkim_domain, 253),
        header_from=cut(addr(report.header_from), 320),
        original_mail_from=cut(addr(report.original_mail_from), 320),
        original_rcpt_to=cut(addr(report.original_rcpt_to), 320),
        subject=None if redact else report.subject,
        message_id=None if redact else cut(report.message_id, 998),
        sample_headers=None if redact else report.sample_headers,
        redacted=redact,
        expires_at=datetime.now(UTC) + timedelta(days=retention_days),
    )
