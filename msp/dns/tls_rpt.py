"""TLS-RPT record (RFC 8460 3) at ``_smtp._tls.<domain>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from msp.dns.findings import Finding, finding
from msp.dns.resolver import Resolver

_RECORD = re.compile(r"^v=TLSRPTv1\s*;\s*(.*)$")
_FIELD = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)=([\x21-\x3a\x3c\x3e-\x7e]+)$")
_MAILTO = re.compile(r"^mailto:[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$", re.I)
_HTTPS = re.compile(r"^https://[^\s,;/]+(/[^\s,;]*)?$", re.I)


@dataclass(frozen=True)
class TlsRptResult:
    status: str  # valid | invalid | missing | unknown
    record: str | None = None
    rua: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "record": self.record, "rua": list(self.rua)}


def parse_tlsrpt(record: str) -> tuple[tuple[str, ...], list[Finding]]:
    match = _RECORD.match(record)
    if match is None:
        return (), [finding("tlsrpt_record_invalid", record)]
    fields: dict[str, str] = {}
    for part in (p.strip() for p in match.group(1).split(";")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not _FIELD.match(f"{key.strip()}={value.strip().replace(' ', '')}"):
            return (), [finding("tlsrpt_record_invalid", f"malformed field {part!r}")]
        fields.setdefault(key.strip(), value.strip())
    if "rua" not in fields:
        return (), [finding("tlsrpt_record_invalid", "no rua field")]
    uris = tuple(u.strip() for u in fields["rua"].split(","))
    bad = [u for u in uris if not (_MAILTO.match(u) or _HTTPS.match(u))]
    return uris, [finding("tlsrpt_rua_invalid", u) for u in bad]


async def check_tls_rpt(resolver: Resolver, domain: str) -> tuple[TlsRptResult, list[Finding]]:
    answer = await resolver.lookup(f"_smtp._tls.{domain}", "TXT")
    if answer.failed:
        return TlsRptResult("unknown"), [
            finding("dns_lookup_failed", f"TXT _smtp._tls.{domain}: {answer.error}")
        ]
    records = [r for r in answer.records if r.startswith("v=TLSRPTv1")]
    if not records:
        return TlsRptResult("missing"), [finding("tlsrpt_missing", domain)]
    if len(records) > 1:
        return TlsRptResult("invalid", records[0]), [finding("tlsrpt_multiple_records", domain)]
    rua, findings = parse_tlsrpt(records[0])
    return TlsRptResult("invalid" if findings else "valid", records[0], rua), findings
