"""The one parsedmarc importer: failure reports, TLS reports, reports hidden in e-mails, its
catalogue of sending services and its bundled IP database. Always offline.

Everything parsedmarc returns is converted here into frozen dataclasses, so no other module
depends on parsedmarc's dict shapes. The aggregate hot path does not come through here (see
:mod:`msp.reports.aggregate`); parsedmarc's own aggregate parse is exposed only as the reference
for the differential test and the benchmark.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any

import maxminddb
import parsedmarc
import parsedmarc.resources.ipinfo
import parsedmarc.resources.maps
from parsedmarc.config import ParserConfig
from parsedmarc.utils import get_base_domain

log = logging.getLogger(__name__)


class ReportParseError(ValueError):
    """parsedmarc could not read the report; the message is the reason kept."""


@dataclass(frozen=True)
class FailureReport:
    """One RFC 6591 / RFC 9991 failure report (ARF), before any redaction."""

    reported_domain: str
    arrival: datetime
    source_ip: str | None
    feedback_type: str | None
    user_agent: str | None
    auth_failure: tuple[str, ...]
    delivery_result: str | None
    dkim_domain: str | None
    original_mail_from: str | None
    original_rcpt_to: str | None
    header_from: str | None
    subject: str | None
    message_id: str | None
    sample_headers: str


@dataclass(frozen=True)
class TlsFailure:
    result_type: str
    failed_sessions: int
    receiving_mx_hostname: str | None
    sending_mta_ip: str | None
    receiving_ip: str | None


@dataclass(frozen=True)
class TlsPolicy:
    policy_domain: str
    policy_type: str
    successful_sessions: int
    failed_sessions: int
    failures: tuple[TlsFailure, ...]


@dataclass(frozen=True)
class TlsReport:
    """One RFC 8460 SMTP TLS report."""

    org_name: str
    report_id: str
    begin: datetime
    end: datetime
    contact_info: str | None
    policies: tuple[TlsPolicy, ...]


@dataclass(frozen=True)
class ReferenceSummary:
    """What parsedmarc itself finds in a file: the reference of the differential test."""

    kind: str
    org_name: str | None
    report_id: str | None
    domain: str | None
    records: int
    messages: int


@dataclass(frozen=True)
class Service:
    name: str
    type: str | None


@dataclass(frozen=True)
class NetworkInfo:
    country: str | None
    asn: int | None
    as_name: str | None
    as_domain: str | None


def _config(normalize_hours: float = 24.0) -> ParserConfig:
    return ParserConfig(
        offline=True,
        always_use_local_files=True,
        nameservers=[],
        dns_timeout=0.1,
        dns_retries=0,
        normalize_timespan_threshold_hours=normalize_hours,
    )


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _tls_failure(raw: dict[str, Any]) -> TlsFailure:
    return TlsFailure(
        result_type=str(raw.get("result_type", "unknown")).lower(),
        failed_sessions=int(raw.get("failed_session_count") or 0),
        receiving_mx_hostname=(raw.get("receiving_mx_hostname") or None),
        sending_mta_ip=raw.get("sending_mta_ip") or None,
        receiving_ip=raw.get("receiving_ip") or None,
    )


def _tls_report(raw: dict[str, Any]) -> TlsReport:
    policies = tuple(
        TlsPolicy(
            policy_domain=str(p["policy_domain"]).lower().rstrip("."),
            policy_type=str(p.get("policy_type", "no-policy-found")).lower(),
            successful_sessions=int(p.get("successful_session_count") or 0),
            failed_sessions=int(p.get("failed_session_count") or 0),
            failures=tuple(_tls_failure(f) for f in p.get("failure_details") or ()),
        )
        for p in raw["policies"]
    )
    if not policies:
        raise ReportParseError("TLS report has no policies")
    return TlsReport(
        org_name=str(raw["organization_name"]).strip(),
        report_id=str(raw["report_id"]).strip(),
        begin=_utc(raw["begin_date"]),
        end=_utc(raw["end_date"]),
        contact_info=raw.get("contact_info"),
        policies=policies,
    )


def parse_tls_json(data: bytes) -> TlsReport:
    """Parse an RFC 8460 JSON report with parsedmarc (which validates its shape)."""
    try:
        return _tls_report(dict(parsedmarc.parse_smtp_tls_report_json(data)))
    except parsedmarc.ParserError as exc:
        raise ReportParseError(str(exc)) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportParseError(f"invalid TLS report: {exc}") from exc


def _arrival(raw: dict[str, Any]) -> datetime:
    text = raw.get("arrival_date_utc")
    if not text:
        return datetime.now(UTC)
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _failure_report(raw: dict[str, Any]) -> FailureReport:
    sample = raw.get("parsed_sample") or {}
    sender = sample.get("from") or {}
    headers = str(raw.get("sample") or "").split("\n\n", 1)[0]
    source = raw.get("source") or {}
    domain = raw.get("reported_domain") or sender.get("domain")
    if not domain:
        raise ReportParseError("failure report names no domain")
    return FailureReport(
        reported_domain=str(domain).lower().rstrip("."),
        arrival=_arrival(raw),
        source_ip=source.get("ip_address"),
        feedback_type=raw.get("feedback_type"),
        user_agent=raw.get("user_agent"),
        auth_failure=tuple(raw.get("auth_failure") or ()),
        delivery_result=raw.get("delivery_result"),
        dkim_domain=raw.get("dkim_domain"),
        original_mail_from=raw.get("original_mail_from"),
        original_rcpt_to=raw.get("original_rcpt_to"),
        header_from=sender.get("address"),
        subject=sample.get("subject"),
        message_id=raw.get("message_id"),
        sample_headers=headers,
    )


def parse_report_email(data: bytes) -> FailureReport | TlsReport:
    """Find a failure or TLS report in an e-mail whose attachments held no report of ours."""
    try:
        parsed = parsedmarc.parse_report_email(data, config=_config())
    except parsedmarc.ParserError as exc:
        raise ReportParseError(str(exc)) from exc
    except Exception as exc:  # parsedmarc promises ParserError only; a bug must not kill a job
        raise ReportParseError(f"unreadable e-mail: {type(exc).__name__}: {exc}") from exc
    kind = parsed["report_type"]
    report = dict(parsed["report"])
    if kind == "failure":
        return _failure_report(report)
    if kind == "smtp_tls":
        return _tls_report(report)
    raise ReportParseError("aggregate report in an unsupported e-mail layout")


def reference_summary(data: bytes) -> ReferenceSummary:
    """parsedmarc's own reading of a whole file (offline, no per-day splitting)."""
    parsed = parsedmarc.parse_report_file(data, config=_config(normalize_hours=1e9))
    report: Any = parsed["report"]
    if parsed["report_type"] != "aggregate":
        return ReferenceSummary(parsed["report_type"], None, None, None, 0, 0)
    meta = report["report_metadata"]
    return ReferenceSummary(
        kind="aggregate",
        org_name=meta["org_name"],
        report_id=meta["report_id"],
        domain=report["policy_published"]["domain"],
        records=len(report["records"]),
        messages=sum(int(r["count"]) for r in report["records"]),
    )


def reference_parse_aggregate(xml: bytes) -> int:
    """parsedmarc's aggregate parse (offline), returning its record count: for the benchmark."""
    report: Any = parsedmarc.parse_aggregate_report_xml(xml, config=_config())
    return len(report["records"])


@cache
def service_catalogue() -> dict[str, Service]:
    """parsedmarc's bundled map of reverse-DNS base domains to sending services."""
    path = files(parsedmarc.resources.maps).joinpath("base_reverse_dns_map.csv")
    services: dict[tuple[str, str], Service] = {}  # about 38,000 rows, far fewer services
    catalogue: dict[str, Service] = {}
    with path.open(encoding="utf-8") as handle:
        rows = csv.reader(handle)
        header = next(rows)
        key_at, name_at, type_at = (header.index(c) for c in ("base_reverse_dns", "name", "type"))
        for row in rows:
            pair = (row[name_at].strip(), row[type_at].strip())
            service = services.get(pair)
            if service is None:
                service = services[pair] = Service(name=pair[0], type=pair[1] or None)
            catalogue[row[key_at].strip().lower()] = service
    return catalogue


def base_domain(hostname: str) -> str | None:
    """The registrable domain of a host name (PSL plus parsedmarc's overrides)."""
    try:
        base: str | None = get_base_domain(hostname.rstrip(".").lower())
        return base
    except Exception:  # an odd PTR name must never fail enrichment
        return None


class IpDatabase:
    """parsedmarc's bundled IPinfo Lite database, opened once per process and reused."""

    def __init__(self, path: str | None = None) -> None:
        default = files(parsedmarc.resources.ipinfo).joinpath("ipinfo_lite.mmdb")
        self._reader = maxminddb.open_database(path or str(default))

    def lookup(self, ip: str) -> NetworkInfo:
        try:
            record = self._reader.get(ip)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return NetworkInfo(None, None, None, None)
        asn = record.get("asn")
        try:
            asn_number = int(str(asn).upper().removeprefix("AS")) if asn else None
        except ValueError:
            asn_number = None
        return NetworkInfo(
            country=_str(record.get("country_code") or record.get("country")),
            asn=asn_number,
            as_name=_str(record.get("as_name")),
            as_domain=_str(record.get("as_domain")),
        )

    def close(self) -> None:
        self._reader.close()


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def dumps(value: Any) -> str:
    """JSON for parsedmarc values (dates as strings)."""
    return json.dumps(value, default=str)
