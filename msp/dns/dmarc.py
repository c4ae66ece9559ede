"""DMARC check: discovery (RFC 9989 tree walk and RFC 7489 PSL fallback), the policy each kind
of receiver applies to mail from exactly this domain, and external report destinations.

All ``_dmarc`` names of the walk are asked at once through the shared resolver; across a fleet
the upper names (``_dmarc.<tld>``, a provider's own records) are asked once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from msp.dns import psl
from msp.dns.dmarc_record import Kind, ParsedDmarc, classify, parse_dmarc, policy_value
from msp.dns.findings import Finding, finding
from msp.dns.resolver import Answer, Resolver

MAX_WALK_QUERIES = 8
WEAKER = {"reject": "quarantine", "quarantine": "none", "none": "none"}


@dataclass(frozen=True)
class Found:
    """What one ``_dmarc.<name>`` query held."""

    name: str
    answer: Answer
    records: tuple[str, ...]
    broken: tuple[Finding, ...]

    @property
    def single(self) -> str | None:
        return self.records[0] if len(self.records) == 1 else None


@dataclass(frozen=True)
class PolicyApplied:
    policy: str | None  # None: no DMARC applies
    tag: str | None = None
    record_domain: str | None = None
    testing: bool = False
    pct: int | None = None
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "tag": self.tag,
            "record_domain": self.record_domain,
            "testing": self.testing,
            "pct": self.pct,
            "note": self.note,
        }


NO_POLICY = PolicyApplied(None, note="no DMARC record applies")


@dataclass(frozen=True)
class Destination:
    uri: str
    host: str | None
    external: bool
    authorized: bool | None


@dataclass(frozen=True)
class DmarcResult:
    status: str  # valid | invalid | missing | unknown
    record: str | None = None
    valid: bool | None = None
    tags: dict[str, str] = field(default_factory=dict)
    location: str | None = None
    org_domain: str | None = None
    org_domain_rfc7489: str | None = None
    policy_applied: PolicyApplied = NO_POLICY
    policy_applied_rfc7489: PolicyApplied = NO_POLICY
    destinations: tuple[Destination, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "record": self.record,
            "valid": self.valid,
            "tags": dict(self.tags),
            "location": self.location,
            "org_domain": self.org_domain,
            "org_domain_rfc7489": self.org_domain_rfc7489,
            "policy_applied": self.policy_applied.as_dict(),
            "policy_applied_rfc7489": self.policy_applied_rfc7489.as_dict(),
            "destinations": [d.__dict__ for d in self.destinations],
        }


def walk_names(domain: str) -> list[str]:
    """RFC 9989 4.10: the domain, then (long names cut to 7 labels) each parent to the TLD."""
    labels = domain.split(".")
    names = [domain]
    start = len(labels) - 7 if len(labels) > MAX_WALK_QUERIES else 1
    names.extend(".".join(labels[i:]) for i in range(start, len(labels)))
    return names


async def lookup_walk(resolver: Resolver, domain: str) -> list[Found]:
    answers = await asyncio.gather(
        *(resolver.lookup(f"_dmarc.{n}", "TXT") for n in walk_names(domain))
    )
    return [_found(n, a) for n, a in zip(walk_names(domain), answers, strict=True)]


def _found(name: str, answer: Answer) -> Found:
    records, broken = [], []
    for text in answer.records:
        kind = classify(text)
        if kind.kind is Kind.DMARC:
            records.append(text)
        elif kind.finding is not None:
            broken.append(kind.finding)
    return Found(name, answer, tuple(records), tuple(broken))


def org_domain_9989(walk: list[Found]) -> str | None:
    """RFC 9989 4.10.2: psd=n stops here, psd=y one label below, else the fewest labels."""
    best = None
    for index, found in enumerate(walk):
        record = found.single
        if record is None:
            continue
        psd = parse_dmarc(record).tags.get("psd", "u").lower()
        if psd == "n":
            return found.name
        if psd == "y":
            return walk[index - 1].name if index > 0 else found.name
        best = found.name
    return best


async def org_domain_of(resolver: Resolver, host: str) -> str:
    return org_domain_9989(await lookup_walk(resolver, host)) or psl.org_domain(host)


async def check_dmarc(
    resolver: Resolver, domain: str, apex_txt: Answer, exists: bool
) -> tuple[DmarcResult, list[Finding]]:
    """Discover and check the DMARC record governing ``domain``."""
    findings: list[Finding] = [
        finding("dmarc_record_wrong_location", r)
        for r in apex_txt.records
        if classify(r).kind is Kind.DMARC
    ]
    walk = await lookup_walk(resolver, domain)
    for found in walk[:1]:
        findings.extend(found.broken)
    for found in walk:
        if len(found.records) > 1:
            findings.append(finding("multiple_dmarc_records", f"_dmarc.{found.name}"))
    rfc7489 = _rfc7489_record(walk, domain)
    unread = undecided(walk, domain)
    if unread:
        return _unknown(unread, domain, findings)
    policy = discover(walk, domain)
    if policy is None:
        return _absent(walk, domain, findings)
    record = policy.single
    assert record is not None
    parsed = parse_dmarc(record)
    findings.extend(parsed.findings)
    org = org_domain_9989(walk) or domain
    destinations = await _destinations(resolver, policy.name, org, parsed)
    findings.extend(
        finding("dmarc_external_rua_unauthorized", d.uri)
        for d in destinations
        if d.authorized is False
    )
    valid = not any(f.code in ("dmarc_syntax_error", "dmarc_invalid_tag_value") for f in findings)
    result = DmarcResult(
        "valid" if valid else "invalid",
        record,
        valid,
        parsed.tags,
        f"_dmarc.{policy.name}",
        org,
        psl.org_domain(domain),
        applied_9989(domain, policy.name, parsed, exists),
        applied_7489(domain, rfc7489, exists),
        destinations,
    )
    return result, findings


def discover(walk: list[Found], domain: str) -> Found | None:
    """RFC 9989 §4.10.1: the author domain's own record; failing that, the record of its
    Organizational Domain (§4.10.2), never merely the first record met on the way up. A record
    on an intermediate name without ``psd`` is neither the policy nor the Organizational
    Domain: ``x.y.example`` under ``_dmarc.y.example`` (p=none) and ``_dmarc.example``
    (sp=reject) gets ``example``'s sp=reject, as RFC 7489 (PSL) does too."""
    own = walk[0]
    if own.single is not None:
        return own
    org = org_domain_9989(walk)
    return next((f for f in walk[1:] if f.name == org and f.single is not None), None)


def undecided(walk: list[Found], domain: str) -> list[Found]:
    """The failed lookups that could change the answer: the author domain's own, or (without
    an own record) one at or below its registered domain. A failure above it (a public suffix
    level such as ``_dmarc.com``) is noted but decides nothing: PSD records are rare, and an
    unreachable TLD must not make every domain's DMARC unknown."""
    own = walk[0]
    if own.answer.failed:
        return [own]
    if own.single is not None:
        return []
    depth = len(psl.org_domain(domain).split("."))
    return [f for f in walk[1:] if f.answer.failed and len(f.name.split(".")) >= depth]


def _unknown(
    failed: list[Found], domain: str, findings: list[Finding]
) -> tuple[DmarcResult, list[Finding]]:
    findings.extend(
        finding("dns_lookup_failed", f"TXT _dmarc.{f.name}: {f.answer.error}") for f in failed
    )
    return DmarcResult("unknown", org_domain_rfc7489=psl.org_domain(domain)), findings


def _absent(
    walk: list[Found], domain: str, findings: list[Finding]
) -> tuple[DmarcResult, list[Finding]]:
    broken = any(f.broken or len(f.records) > 1 for f in walk)
    findings.append(finding("dmarc_missing", domain))
    status = "invalid" if broken else "missing"
    return DmarcResult(
        status, valid=False if broken else None, org_domain_rfc7489=psl.org_domain(domain)
    ), findings


def _rfc7489_record(walk: list[Found], domain: str) -> tuple[str, ParsedDmarc] | None:
    """RFC 7489 6.6.3: the domain's own record, else the PSL organisational domain's."""
    own = walk[0]
    if own.records:
        return (own.name, parse_dmarc(own.records[0])) if own.single else None
    org = psl.org_domain(domain)
    for found in walk[1:]:
        if found.name == org and found.single is not None:
            return found.name, parse_dmarc(found.single)
    return None


def _base_policy(
    domain: str, record_domain: str, parsed: ParsedDmarc, exists: bool, with_np: bool
) -> tuple[str | None, str]:
    """The policy tag that applies and its value (None if that value is invalid)."""
    order = ["p"]
    if record_domain != domain:
        order = (["np"] if with_np and not exists else []) + ["sp", "p"]
    for key in order:
        if key in parsed.tags:
            return policy_value(parsed.tags, key, parsed.invalid), key
    return None, "p"


def applied_9989(
    domain: str, record_domain: str, parsed: ParsedDmarc, exists: bool
) -> PolicyApplied:
    policy, tag = _base_policy(domain, record_domain, parsed, exists, with_np=True)
    if policy is None and tag == "p" and "p" not in parsed.tags:
        policy, note = "none", "no p tag: none"
    elif policy is None:
        if not parsed.has_valid_rua():
            return PolicyApplied(None, tag, record_domain, note=f"invalid {tag} and no rua")
        policy, note = "none", f"invalid {tag}: none because rua is valid"
    else:
        note = ""
    testing = parsed.tags.get("t", "").lower() == "y" or parsed.tags.get("pct") == "0"
    if testing:
        policy, note = WEAKER[policy], (note + " t=y: one level below").strip()
    return PolicyApplied(policy, tag, record_domain, testing, None, note)


def applied_7489(domain: str, found: tuple[str, ParsedDmarc] | None, exists: bool) -> PolicyApplied:
    if found is None:
        return NO_POLICY
    record_domain, parsed = found
    policy, tag = _base_policy(domain, record_domain, parsed, exists, with_np=False)
    p_ok = policy_value(parsed.tags, "p", parsed.invalid) is not None
    if policy is None or not p_ok:
        if not parsed.has_valid_rua():
            return PolicyApplied(None, tag, record_domain, note="missing or invalid p, no rua")
        return PolicyApplied("none", tag, record_domain, note="missing or invalid p: none")
    pct = int(parsed.tags["pct"]) if "pct" in parsed.tags and "pct" not in parsed.invalid else 100
    note = f"applied to {pct}% of failing mail" if pct != 100 else ""
    return PolicyApplied(policy, tag, record_domain, False, pct, note)


async def _destinations(
    resolver: Resolver, policy_domain: str, org: str, parsed: ParsedDmarc
) -> tuple[Destination, ...]:
    uris = [u for u in (*parsed.rua, *parsed.ruf) if u.valid and u.host]
    orgs = await asyncio.gather(*(org_domain_of(resolver, u.host or "") for u in uris))
    checks = []
    for uri, host_org in zip(uris, orgs, strict=True):
        external = host_org != org and host_org != psl.org_domain(policy_domain)
        checks.append(_authorized(resolver, policy_domain, uri.uri, uri.host or "", external))
    return tuple(await asyncio.gather(*checks))


async def _authorized(
    resolver: Resolver, policy_domain: str, uri: str, host: str, external: bool
) -> Destination:
    if not external:
        return Destination(uri, host, False, None)
    answer = await resolver.lookup(f"{policy_domain}._report._dmarc.{host}", "TXT")
    if answer.failed:
        return Destination(uri, host, True, None)
    ok = any(r.startswith("v=DMARC1") for r in answer.records)
    return Destination(uri, host, True, ok)
