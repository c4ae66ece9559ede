"""Rendering of a :class:`~msp.dns.checker.DomainResult`: the JSON shape and a readable text."""

from __future__ import annotations

import json

from msp.dns.checker import DomainResult

SEVERITY_MARK = {"error": "✗", "warning": "!", "info": "·"}


def to_json(result: DomainResult) -> str:
    return json.dumps(result.as_dict(), sort_keys=False, ensure_ascii=False)


def _line(label: str, status: str, text: str | None) -> str:
    return f"  {label:<8} {status:<8} {text or '-'}"


def to_text(result: DomainResult) -> str:
    spf, dmarc = result.spf, result.dmarc
    applied = dmarc.policy_applied
    lines = [
        f"{result.domain}  grade {result.grade}  ({result.checked_at:%Y-%m-%d %H:%M:%S} UTC)",
        _line("SPF", spf.status, spf.record),
    ]
    if spf.dns_lookups is not None:
        lines.append(
            f"{'':<18}lookups {spf.dns_lookups}/10, void {spf.void_lookups}/2, result {spf.result}"
        )
    lines.append(_line("DMARC", dmarc.status, dmarc.record))
    if dmarc.record:
        old = dmarc.policy_applied_rfc7489
        lines.append(
            f"{'':<18}at {dmarc.location}; applied: {applied.policy} (RFC 9989), "
            f"{old.policy}{'' if old.pct in (None, 100) else f' pct={old.pct}'} "
            "(RFC 7489)"
        )
    for selector, key in result.dkim.items():
        size = f"{key.key_type} {key.key_bits or '?'} bits" if key.record else None
        lines.append(_line("DKIM", key.status, f"{selector} ({key.source}) {size or ''}".strip()))
    if not result.dkim:
        lines.append(_line("DKIM", "missing", None))
    exchanges = ", ".join(h.exchange for h in result.mx.hosts)
    lines.append(_line("MX", result.mx.status, exchanges))
    lines.append(_line("MTA-STS", result.mta_sts.status, result.mta_sts.record))
    lines.append(_line("TLS-RPT", result.tls_rpt.status, result.tls_rpt.record))
    lines.append(_line("BIMI", result.bimi.status, result.bimi.record))
    if result.findings:
        lines.append("  findings:")
    for item in result.findings:
        mark = SEVERITY_MARK.get(str(item.severity), "?")
        detail = f" [{item.detail}]" if item.detail else ""
        lines.append(f"   {mark} {item.code}: {item.message}{detail}")
        lines.append(f"       fix: {item.remediation}")
    return "\n".join(lines)
