"""MX check (RFC 5321 5.1, RFC 7505, RFC 2181 10.3): null MX, alias targets, addresses."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass

from msp.dns.findings import Finding, finding
from msp.dns.resolver import Answer, Resolver


@dataclass(frozen=True)
class MxHost:
    preference: int
    exchange: str
    addresses: tuple[str, ...] = ()
    cname: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "preference": self.preference,
            "exchange": self.exchange,
            "addresses": list(self.addresses),
            "cname": self.cname,
        }


@dataclass(frozen=True)
class MxResult:
    status: str  # valid | invalid | missing | unknown | null
    hosts: tuple[MxHost, ...] = ()
    null_mx: bool = False

    @property
    def exchanges(self) -> tuple[str, ...]:
        return tuple(h.exchange for h in self.hosts if h.exchange != ".")

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "null_mx": self.null_mx,
            "hosts": [h.as_dict() for h in self.hosts],
        }


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


async def check_mx(resolver: Resolver, domain: str) -> tuple[MxResult, list[Finding]]:
    answer = await resolver.lookup(domain, "MX")
    if answer.failed:
        return MxResult("unknown"), [finding("dns_lookup_failed", f"MX {domain}: {answer.error}")]
    if not answer.records:
        return MxResult("missing"), [finding("mx_missing", domain)]
    pairs = sorted(
        (int(r.split()[0]), r.split()[1].rstrip(".").lower() or ".") for r in answer.records
    )
    roots = [p for p in pairs if p[1] == "."]
    findings: list[Finding] = []
    if roots:
        if any(pref != 0 for pref, _ in roots):
            findings.append(finding("mx_null_malformed", domain))
        if len(pairs) > 1:
            findings.append(finding("mx_null_with_other_mx", domain))
        else:
            return MxResult("null", (MxHost(0, "."),), True), findings
    hosts = await asyncio.gather(
        *(_host(resolver, pref, name, findings) for pref, name in pairs if name != ".")
    )
    bad = any(f.severity == "error" for f in findings)
    unknown = any(f.code == "dns_lookup_failed" for f in findings)
    status = "invalid" if bad else "unknown" if unknown else "valid"
    return MxResult(status, tuple(hosts), bool(roots)), findings


async def _host(resolver: Resolver, preference: int, name: str, findings: list[Finding]) -> MxHost:
    if _is_ip(name):
        findings.append(finding("mx_target_ip_literal", name))
        return MxHost(preference, name)
    a, aaaa = await asyncio.gather(resolver.lookup(name, "A"), resolver.lookup(name, "AAAA"))
    cname = (a.cname_chain or aaaa.cname_chain or (None,))[0]
    if cname:
        findings.append(finding("mx_target_is_cname", f"{name} -> {cname}"))
    addresses = a.records + aaaa.records
    if not addresses:
        failed: Answer | None = next((x for x in (a, aaaa) if x.failed), None)
        if failed is not None:
            findings.append(finding("dns_lookup_failed", f"A/AAAA {name}: {failed.error}"))
        else:
            findings.append(finding("mx_host_no_address", name))
    return MxHost(preference, name, addresses, cname)
