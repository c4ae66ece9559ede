"""MTA-STS (RFC 8461): the ``_mta-sts`` TXT record, the HTTPS policy and MX coverage.

The policy is fetched through :class:`~msp.dns.http.HttpsFetcher` (certificate validation, no
redirects, size and time limits, private addresses refused unless allowed).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from msp.dns.findings import Finding, finding
from msp.dns.http import HttpsFetcher
from msp.dns.resolver import Resolver

POLICY_PATH = "/.well-known/mta-sts.txt"
MAX_AGE_LIMIT = 31557600
MAX_AGE_SHORT = 604800
_RECORD = re.compile(r"^v=STSv1\s*;\s*(.*)$")
_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_PATTERN = re.compile(r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9-]+\.?$")


@dataclass(frozen=True)
class StsPolicy:
    version: str | None
    mode: str | None
    max_age: int | None
    mx: tuple[str, ...]
    sha256: str

    def as_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "mode": self.mode,
            "max_age": self.max_age,
            "mx": list(self.mx),
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class MtaStsResult:
    status: str  # valid | invalid | missing | unknown
    record: str | None = None
    id: str | None = None
    policy: StsPolicy | None = None
    policy_error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "record": self.record,
            "id": self.id,
            "policy": None if self.policy is None else self.policy.as_dict(),
            "policy_error": self.policy_error,
        }


def parse_record(record: str) -> str | None:
    """The id of a valid ``v=STSv1; id=...`` record, else None."""
    match = _RECORD.match(record)
    if match is None:
        return None
    ident = None
    for part in (p.strip() for p in match.group(1).split(";")):
        key, _, value = part.partition("=")
        if key == "id" and ident is None:
            ident = value.strip()
    return ident if ident is not None and _ID.match(ident) else None


def parse_policy(body: bytes) -> tuple[StsPolicy, list[str]]:
    """RFC 8461 3.2 key/value lines; returns the policy and its problems."""
    text = body.decode("utf-8", "replace")
    values: dict[str, str] = {}
    mx: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "mx":
            mx.append(value.lower().rstrip("."))
        else:
            values.setdefault(key, value)
    max_age = values.get("max_age", "")
    policy = StsPolicy(
        values.get("version"),
        values.get("mode"),
        int(max_age) if re.fullmatch(r"[0-9]{1,10}", max_age) else None,
        tuple(mx),
        hashlib.sha256(body).hexdigest(),
    )
    return policy, _policy_problems(policy, max_age)


def _policy_problems(policy: StsPolicy, max_age: str) -> list[str]:
    problems = []
    if policy.version != "STSv1":
        problems.append(f"version {policy.version!r}")
    if policy.mode not in ("enforce", "testing", "none"):
        problems.append(f"mode {policy.mode!r}")
    if policy.max_age is None or policy.max_age > MAX_AGE_LIMIT:
        problems.append(f"max_age {max_age!r}")
    if policy.mode in ("enforce", "testing") and not policy.mx:
        problems.append("no mx line")
    problems.extend(f"mx pattern {p!r}" for p in policy.mx if not _PATTERN.match(p))
    return problems


def mx_covered(host: str, patterns: tuple[str, ...]) -> bool:
    """RFC 8461 4.1: exact match, or ``*.`` covering exactly one left-most label."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            head, _, rest = host.partition(".")
            if head and rest == pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


async def check_mta_sts(
    resolver: Resolver, fetcher: HttpsFetcher, domain: str, mx_hosts: tuple[str, ...]
) -> tuple[MtaStsResult, list[Finding]]:
    answer = await resolver.lookup(f"_mta-sts.{domain}", "TXT")
    if answer.failed:
        return MtaStsResult("unknown"), [
            finding("dns_lookup_failed", f"TXT _mta-sts.{domain}: {answer.error}")
        ]
    records = [r for r in answer.records if r.startswith("v=STSv1")]
    if not records:
        return MtaStsResult("missing"), [finding("mta_sts_missing", domain)]
    if len(records) > 1:
        return MtaStsResult("invalid", records[0]), [finding("mta_sts_multiple_records", domain)]
    ident = parse_record(records[0])
    if ident is None:
        return MtaStsResult("invalid", records[0]), [finding("mta_sts_record_invalid", records[0])]
    return await _check_policy(resolver, fetcher, domain, records[0], ident, mx_hosts)


async def _check_policy(
    resolver: Resolver,
    fetcher: HttpsFetcher,
    domain: str,
    record: str,
    ident: str,
    mx_hosts: tuple[str, ...],
) -> tuple[MtaStsResult, list[Finding]]:
    host = f"mta-sts.{domain}"
    a, aaaa = await resolver.lookup(host, "A"), await resolver.lookup(host, "AAAA")
    if a.failed and aaaa.failed:
        return (
            MtaStsResult("unknown", record, ident),
            [finding("dns_lookup_failed", f"A {host}: {a.error}")],
        )
    if not a.records and not aaaa.records:
        return (
            MtaStsResult("invalid", record, ident, policy_error="no address"),
            [finding("mta_sts_policy_host_missing", host)],
        )
    fetched = await fetcher.get(host, POLICY_PATH)
    if not fetched.ok:
        return (
            MtaStsResult("invalid", record, ident, policy_error=fetched.error),
            [finding("mta_sts_policy_unfetchable", f"{fetched.url}: {fetched.error}")],
        )
    policy, problems = parse_policy(fetched.body)
    if not fetched.content_type.lower().startswith("text/plain"):
        problems.append(f"media type {fetched.content_type!r}, not text/plain")
    findings = [finding("mta_sts_policy_invalid", p) for p in problems]
    findings.extend(_policy_findings(policy, mx_hosts))
    status = "invalid" if any(f.severity == "error" for f in findings) else "valid"
    return MtaStsResult(status, record, ident, policy), findings


def _policy_findings(policy: StsPolicy, mx_hosts: tuple[str, ...]) -> list[Finding]:
    findings = []
    if policy.mode == "testing":
        findings.append(finding("mta_sts_mode_testing"))
    if policy.max_age is not None and policy.max_age < MAX_AGE_SHORT:
        findings.append(finding("mta_sts_max_age_short", f"max_age {policy.max_age}"))
    if policy.mode in ("enforce", "testing"):
        findings.extend(
            finding("mta_sts_mx_not_covered", h) for h in mx_hosts if not mx_covered(h, policy.mx)
        )
    return findings
