"""BIMI assertion record (draft-brand-indicators-for-message-identification) and its DMARC
prerequisites; the logo location is fetched through the HTTPS guard when asked to."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from msp.dns.dmarc import DmarcResult
from msp.dns.findings import Finding, finding
from msp.dns.http import HttpsFetcher
from msp.dns.resolver import Answer, Resolver


@dataclass(frozen=True)
class BimiResult:
    status: str  # valid | invalid | missing | unknown | declined
    record: str | None = None
    location: str | None = None
    authority: str | None = None
    record_domain: str | None = None
    logo_fetched: bool | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "record": self.record,
            "location": self.location,
            "authority": self.authority,
            "record_domain": self.record_domain,
            "logo_fetched": self.logo_fetched,
        }


def parse_bimi(record: str) -> dict[str, str] | None:
    """Tags of a record starting exactly with ``v=BIMI1``; None if it does not parse."""
    tags: dict[str, str] = {}
    for part in (p.strip() for p in record.split(";")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            return None
        tags.setdefault(key.strip(), value.strip())
    if next(iter(tags), None) != "v" or tags["v"] != "BIMI1" or "l" not in tags:
        return None
    return tags


def dmarc_prerequisites(dmarc: DmarcResult) -> list[Finding]:
    """Authentication Requirements 6-9, with t=y read as not enforced (RFC 9989)."""
    tags = {k: v.lower() for k, v in dmarc.tags.items()}
    findings = []
    policy = dmarc.policy_applied.policy
    if policy in (None, "none") or tags.get("p") in (None, "none") or tags.get("t") == "y":
        findings.append(finding("bimi_dmarc_not_enforced", f"p={tags.get('p')}"))
    if tags.get("sp") == "none":
        findings.append(finding("bimi_dmarc_sp_none"))
    if tags.get("p") == "quarantine" and tags.get("pct", "100") != "100":
        findings.append(finding("bimi_dmarc_pct_not_100", f"pct={tags['pct']}"))
    return findings


def _select(answer: Answer) -> list[str]:
    return [r for r in answer.records if r.startswith("v=BIMI1")]


async def check_bimi(
    resolver: Resolver,
    fetcher: HttpsFetcher,
    domain: str,
    org_domain: str,
    dmarc: DmarcResult,
    fetch_logo: bool,
    selector: str = "default",
) -> tuple[BimiResult, list[Finding]]:
    where = domain
    answer = await resolver.lookup(f"{selector}._bimi.{domain}", "TXT")
    if not answer.failed and not _select(answer) and org_domain != domain:
        where, answer = org_domain, await resolver.lookup(f"{selector}._bimi.{org_domain}", "TXT")
    if answer.failed:
        return BimiResult("unknown"), [
            finding("dns_lookup_failed", f"BIMI {where}: {answer.error}")
        ]
    records = _select(answer)
    if not records:
        return BimiResult("missing"), []
    if len(records) > 1:
        return BimiResult("invalid", records[0]), [finding("bimi_multiple_records", where)]
    tags = parse_bimi(records[0])
    if tags is None:
        return BimiResult("invalid", records[0]), [finding("bimi_record_invalid", records[0])]
    location, authority = tags.get("l", ""), tags.get("a", "") or None
    if not location and not authority:
        return BimiResult("declined", records[0], record_domain=where), []
    findings = dmarc_prerequisites(dmarc)
    fetched = None
    if location and urlsplit(location).scheme.lower() != "https":
        findings.append(finding("bimi_location_not_https", location))
    elif location and fetch_logo:
        fetched = await _fetch_logo(fetcher, location, findings)
    status = "invalid" if any(f.severity == "error" for f in findings) else "valid"
    return BimiResult(status, records[0], location or None, authority, where, fetched), findings


async def _fetch_logo(fetcher: HttpsFetcher, location: str, findings: list[Finding]) -> bool:
    parts = urlsplit(location)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    fetched = await fetcher.get(parts.hostname or "", path or "/")
    if fetched.ok and b"<svg" in fetched.body[:4096]:
        return True
    findings.append(finding("bimi_logo_unfetchable", f"{location}: {fetched.error or 'not SVG'}"))
    return False
