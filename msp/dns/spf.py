"""SPF check (RFC 7208): record selection, a check_host-style walk and the lookup arithmetic.

The walk evaluates every term before ``all`` of the record and of each include/redirect target,
as check_host() would for a sender that matches nothing, so it counts the worst case: each
include, a, mx, ptr, exists and redirect costs one DNS lookup, nested records included (4.6.4);
lookups returning NXDOMAIN or no data are void lookups. The queries of one record's terms are
sent concurrently through the shared resolver. It also gathers the networks the ``+`` terms
authorise.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, field

from msp.dns.findings import Finding, finding
from msp.dns.resolver import Answer, Resolver
from msp.dns.spf_syntax import (
    LOOKUP_MECHANISMS,
    QUALIFIERS,
    ParsedSpf,
    Term,
    is_spf_record,
    parse_spf,
)

LOOKUP_LIMIT = 10
VOID_LIMIT = 2
MX_NAME_LIMIT = 10
RECORD_LENGTH_LIMIT = 450
ANSWER_SIZE_LIMIT = 512
WALK_CEILING = 40  # stop descending once this many lookups are counted (loops, runaways)


@dataclass(frozen=True)
class LookupNode:
    """One DNS-querying term and what it cost, with the nested record's terms below it."""

    term: str
    domain: str
    lookups: int
    void: bool = False
    note: str = ""
    children: tuple[LookupNode, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "term": self.term,
            "domain": self.domain,
            "lookups": self.lookups,
            "void": self.void,
            "note": self.note,
            "children": [c.as_dict() for c in self.children],
        }


@dataclass(frozen=True)
class SpfResult:
    status: str  # valid | invalid | missing | unknown
    record: str | None = None
    valid: bool | None = None
    result: str = "none"  # none | neutral | pass | fail | softfail | permerror | temperror
    dns_lookups: int | None = None
    void_lookups: int | None = None
    all: str | None = None
    record_length: int = 0
    lookup_breakdown: tuple[LookupNode, ...] = ()
    includes: tuple[str, ...] = ()
    networks_ip4: tuple[str, ...] = ()
    networks_ip6: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "record": self.record,
            "valid": self.valid,
            "result": self.result,
            "dns_lookups": self.dns_lookups,
            "void_lookups": self.void_lookups,
            "all": self.all,
            "record_length": self.record_length,
            "lookup_breakdown": [n.as_dict() for n in self.lookup_breakdown],
            "includes": list(self.includes),
            "networks": {"ip4": list(self.networks_ip4), "ip6": list(self.networks_ip6)},
        }


@dataclass
class _Walk:
    resolver: Resolver
    findings: list[Finding] = field(default_factory=list)
    lookups: int = 0
    voids: int = 0
    permerror: bool = False
    temperror: bool = False
    includes: list[str] = field(default_factory=list)
    ip4: set[str] = field(default_factory=set)
    ip6: set[str] = field(default_factory=set)

    def fail(self, code: str, detail: str) -> None:
        self.permerror = True
        self.findings.append(finding(code, detail))

    def add_network(self, text: str, normalised: bool = False) -> None:
        if not normalised:
            text = str(ipaddress.ip_network(text, strict=False))
        (self.ip6 if ":" in text else self.ip4).add(text)


def select_spf(txt: Answer) -> list[str]:
    return [r for r in txt.records if is_spf_record(r)]


async def check_spf(
    resolver: Resolver, domain: str, txt: Answer, rr99: Answer | None = None
) -> tuple[SpfResult, list[Finding]]:
    """Check the SPF record found in ``txt`` (the apex TXT answer of ``domain``)."""
    findings: list[Finding] = []
    if rr99 is not None and rr99.records:
        findings.append(finding("spf_rr_type_obsolete", rr99.records[0]))
    if any(r.lower().startswith("spf2.0/") for r in txt.records):
        findings.append(finding("spf_sender_id_obsolete"))
    if txt.failed:
        findings.append(finding("dns_lookup_failed", f"TXT {domain}: {txt.error}"))
        return SpfResult("unknown", result="temperror"), findings
    records = select_spf(txt)
    if not records:
        findings.append(finding("spf_missing", domain))
        return SpfResult("missing"), findings
    if len(records) > 1:
        findings.append(finding("multiple_spf_records", " | ".join(records)))
        return SpfResult(
            "invalid", records[0], False, "permerror", record_length=len(records[0])
        ), findings
    record = records[0]
    if len(record.encode()) > RECORD_LENGTH_LIMIT or txt.wire_size > ANSWER_SIZE_LIMIT:
        findings.append(finding("spf_record_too_long", f"{len(record.encode())} bytes"))
    walk = _Walk(resolver)
    parsed = parse_spf(record)
    nodes, all_result = await _evaluate(walk, domain, parsed, (domain,), top=True)
    if parsed.all_term is None and parsed.redirect is not None and all_result == "pass":
        walk.findings.append(finding("spf_all_pass", f"via redirect={parsed.redirect}"))
    result = _result(walk, record, parsed, nodes, all_result)
    findings.extend(walk.findings)
    return result, findings


def _result(
    walk: _Walk, record: str, parsed: ParsedSpf, nodes: tuple[LookupNode, ...], all_result: str
) -> SpfResult:
    if walk.lookups > LOOKUP_LIMIT:
        walk.fail("spf_too_many_lookups", f"{walk.lookups} lookups")
    if walk.voids > VOID_LIMIT:
        walk.fail("spf_too_many_void_lookups", f"{walk.voids} void lookups")
    if walk.permerror:
        status, valid, result = "invalid", False, "permerror"
    elif walk.temperror:
        status, valid, result = "unknown", None, "temperror"
    else:
        status, valid, result = "valid", True, all_result
    all_term = parsed.all_term
    return SpfResult(
        status,
        record,
        valid,
        result,
        walk.lookups,
        walk.voids,
        None if all_term is None else f"{all_term.qualifier}all",
        len(record.encode()),
        nodes,
        tuple(walk.includes),
        tuple(sorted(walk.ip4)),
        tuple(sorted(walk.ip6)),
    )


async def _evaluate(
    walk: _Walk, domain: str, parsed: ParsedSpf, stack: tuple[str, ...], top: bool = False
) -> tuple[tuple[LookupNode, ...], str]:
    """Walk one record; returns its lookup nodes and the result of its ``all``/redirect."""
    if parsed.errors:
        walk.fail("spf_syntax_error", f"{domain}: " + "; ".join(parsed.errors))
        return (), "permerror"
    active = _active_terms(walk, domain, parsed)
    queried = [t for t in active if t.mechanism in LOOKUP_MECHANISMS]
    walk.lookups += len(queried)
    for term in active:
        if term.network and term.qualifier == "+":
            walk.add_network(term.network, normalised=True)
    nodes = tuple(await asyncio.gather(*(_term(walk, domain, t, stack) for t in queried)))
    return await _ending(walk, domain, parsed, stack, nodes, top)


def _active_terms(walk: _Walk, domain: str, parsed: ParsedSpf) -> tuple[Term, ...]:
    """The terms up to ``all`` (those after it never apply: a finding), noting ``ptr``."""
    if parsed.uses_ptr_macro or any(t.mechanism == "ptr" for t in parsed.terms):
        walk.findings.append(finding("spf_ptr_mechanism", domain))
    index = parsed.all_index
    if index is None:
        return tuple(parsed.terms)
    if index + 1 < len(parsed.terms):
        walk.findings.append(
            finding(
                "spf_terms_after_all",
                f"{domain}: " + " ".join(t.text for t in parsed.terms[index + 1 :]),
            )
        )
    return tuple(parsed.terms[: index + 1])


async def _ending(
    walk: _Walk,
    domain: str,
    parsed: ParsedSpf,
    stack: tuple[str, ...],
    nodes: tuple[LookupNode, ...],
    top: bool,
) -> tuple[tuple[LookupNode, ...], str]:
    """The record's result when no term matched: its ``all``, else its redirect, else neutral."""
    all_term = parsed.all_term
    if all_term is not None:
        if top and all_term.qualifier in ("+", "?"):
            code = "spf_all_pass" if all_term.qualifier == "+" else "spf_all_neutral"
            walk.findings.append(finding(code, all_term.text))
        if parsed.redirect is not None:
            walk.findings.append(finding("spf_redirect_ignored_all_present", domain))
        return nodes, QUALIFIERS[all_term.qualifier]
    if parsed.redirect is not None:
        walk.lookups += 1
        node, result = await _follow(walk, "redirect", parsed.redirect, stack)
        return (*nodes, node), result
    if top:
        walk.findings.append(finding("spf_no_all", domain))
    return nodes, "neutral"


async def _term(walk: _Walk, domain: str, term: Term, stack: tuple[str, ...]) -> LookupNode:
    target = (term.domain or domain).rstrip(".").lower()
    if term.has_macro:
        return LookupNode(term.text, target, 1, note="macro: depends on the message, not resolved")
    if term.mechanism == "include":
        node, _ = await _follow(walk, "include", target, stack)
        return node
    if term.mechanism == "ptr":
        return LookupNode(term.text, target, 1, note="ptr: depends on the connecting IP")
    if term.mechanism == "exists":
        return _node(walk, term, target, await walk.resolver.lookup(target, "A"))
    if term.mechanism == "a":
        return await _address_term(walk, term, target, [target])
    return await _mx_term(walk, term, target)


def _node(walk: _Walk, term: Term, target: str, *answers: Answer) -> LookupNode:
    if any(a.failed for a in answers):
        walk.temperror = True
        walk.findings.append(finding("dns_lookup_failed", f"{term.text}: {answers[0].error}"))
        return LookupNode(term.text, target, 1, note="DNS error")
    void = all(a.void for a in answers)
    walk.voids += int(void)
    return LookupNode(term.text, target, 1, void=void)


async def _address_term(walk: _Walk, term: Term, target: str, hosts: list[str]) -> LookupNode:
    pairs = await asyncio.gather(*(_addresses(walk.resolver, h) for h in hosts))
    answers = [a for pair in pairs for a in pair]
    node = _node(walk, term, target, *answers) if term.mechanism == "a" else None
    if term.qualifier == "+":
        for answer in answers:
            cidr = term.cidr4 if answer.rdtype == "A" else term.cidr6
            for address in answer.records:
                walk.add_network(address if cidr is None else f"{address}/{cidr}")
    return node or LookupNode(term.text, target, 1)


async def _addresses(resolver: Resolver, host: str) -> tuple[Answer, Answer]:
    a, aaaa = await asyncio.gather(resolver.lookup(host, "A"), resolver.lookup(host, "AAAA"))
    return a, aaaa


async def _mx_term(walk: _Walk, term: Term, target: str) -> LookupNode:
    answer = await walk.resolver.lookup(target, "MX")
    node = _node(walk, term, target, answer)
    hosts = [r.split()[1].rstrip(".") for r in answer.records if r.split()[1] != "."]
    if len(hosts) > MX_NAME_LIMIT:
        walk.fail("spf_mx_too_many_records", f"{term.text}: {len(hosts)} MX names")
        return node
    await _address_term(walk, term, target, hosts)
    return node


async def _follow(
    walk: _Walk, kind: str, target: str, stack: tuple[str, ...]
) -> tuple[LookupNode, str]:
    """Evaluate an include or redirect target; returns its node and its result."""
    target = target.rstrip(".").lower()
    label = f"{kind}:{target}" if kind == "include" else f"redirect={target}"
    if "%" in target:
        return LookupNode(label, target, 1, note="macro: not resolved"), "neutral"
    if target in stack:
        walk.fail("spf_include_loop", " -> ".join((*stack, target)))
        return LookupNode(label, target, 1, note="loop"), "permerror"
    if walk.lookups > WALK_CEILING:
        return LookupNode(label, target, 1, note="not followed: limit long exceeded"), "permerror"
    walk.includes.append(target)
    answer = await walk.resolver.lookup(target, "TXT")
    if answer.failed:
        walk.temperror = True
        walk.findings.append(finding("dns_lookup_failed", f"{label}: {answer.error}"))
        return LookupNode(label, target, 1, note="DNS error"), "temperror"
    records = select_spf(answer)
    walk.voids += int(answer.void)
    if len(records) != 1:
        code = f"spf_{kind}_target_no_record" if not records else "multiple_spf_records"
        walk.fail(code, f"{label}" + (f": {len(records)} records" if records else ""))
        return LookupNode(
            label, target, 1, void=answer.void, note="no single SPF record"
        ), "permerror"
    children, result = await _evaluate(walk, target, parse_spf(records[0]), (*stack, target))
    total = 1 + sum(c.lookups for c in children)
    return LookupNode(label, target, total, answer.void, children=children), result
