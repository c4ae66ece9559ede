"""Differential test: checkdmarc 6 and this checker on the same knot zones.

Every disagreement on the SPF verdict, the SPF lookup count, the DMARC verdict or the DMARC
record location must be listed in EXPLAINED with the rule behind it; an unexplained difference,
or an explained one that no longer happens, fails the test.
"""

from __future__ import annotations

from typing import Any

import pytest

from msp.dns.checker import DomainRequest, DomainResult, check_fleet
from msp.dns.options import CheckOptions
from tests.dns.world import dmarc_zones, mx_zones, spf_zones
from tests.support.dns_server import KnotServer

checkdmarc = pytest.importorskip("checkdmarc")
dns_nameserver = pytest.importorskip("dns.nameserver")

SUBDOMAINS = (
    "sub.dm-org.test",
    "nx.dm-org.test",
    "host.unit.dm-psd.test",
    "sub.dm-two.test",
    "host.unit.dm-rfcdiff.test",
)
NOT_CHECKED = {"auth.test", "wild.test", "noauth.test"}

EXPLAINED = {
    ("spf", "spf-upper.test"): "RFC 7208 12 + RFC 5234 2.3: ABNF literals such as v=spf1 are "
    "case-insensitive; checkdmarc only accepts lower-case v=spf1",
    ("spf", "spf-temperror.test"): "RFC 7208 4.4, 2.6.6 (rule G3): a REFUSED/SERVFAIL include "
    "is a temperror (unknown); checkdmarc reports it as an include without an SPF record",
    ("spf", "nx.dm-org.test"): "RFC 7208 4.3 (S6): an NXDOMAIN domain has no SPF record, result "
    "none (missing); checkdmarc reports an error ('domain does not exist')",
    ("dmarc", "dm-badtag.test"): "RFC 9989 4.7 (D10): the record applies with adkim defaulted; "
    "we mark it not valid to surface dmarc_invalid_tag_value, checkdmarc defaults silently",
    ("dmarc", "dm-baduri.test"): "RFC 9989 4.7, 4.8 (D18): a receiver ignores a malformed rua "
    "URI and still applies the record; checkdmarc rejects the whole record",
    ("dmarc", "dm-noise.test"): "RFC 9989 4.10 step 2 (D4): unrelated TXT at _dmarc is "
    "discarded; checkdmarc treats it as fatal",
    ("dmarc", "nx.dm-org.test"): "RFC 9989 4.10.1, 3.2.13 (D7): a non-existent subdomain is "
    "governed by the organisational record's np; checkdmarc stops at 'domain does not exist'",
    ("dmarc", "sub.dm-two.test"): "RFC 9989 4.10 step 6 (D3): two records at one name are "
    "discarded and the walk continues to the parent; checkdmarc stops (the RFC 7489 reading, "
    "which our policy_applied_rfc7489 also gives: None)",
}


def _names() -> list[str]:
    zones = set(spf_zones()) | set(dmarc_zones()) | set(mx_zones())
    return sorted((zones - NOT_CHECKED) | set(SUBDOMAINS))


def _peer_verdict(section: dict[str, Any], kind: str) -> str:
    if section.get("valid"):
        return "valid"
    error = str(section.get("error") or "")
    return (
        "missing"
        if error.startswith(f"A{'n' if kind == 'SPF' else ''} {kind} record does not exist")
        else "invalid"
    )


def _our_spf(result: DomainResult) -> str:
    return result.spf.status


def _our_dmarc(result: DomainResult) -> str:
    if result.dmarc.status == "valid" and result.dmarc.valid:
        return "valid"
    return result.dmarc.status if result.dmarc.status != "valid" else "invalid"


def _differences(peer: dict[str, Any], ours: DomainResult) -> set[str]:
    found = set()
    spf, dmarc = peer["spf"], peer["dmarc"]
    if _peer_verdict(spf, "SPF") != _our_spf(ours):
        found.add("spf")
    lookups = spf.get("dns_lookups")
    if (
        isinstance(lookups, int)
        and ours.spf.dns_lookups is not None
        and (lookups != ours.spf.dns_lookups)
    ):
        found.add("spf")
    if _peer_verdict(dmarc, "DMARC") != _our_dmarc(ours):
        found.add("dmarc")
    location = dmarc.get("location")
    if location and ours.dmarc.location and f"_dmarc.{location}" != ours.dmarc.location:
        found.add("dmarc")
    return found


@pytest.mark.slow
def test_every_disagreement_with_checkdmarc_is_explained(
    knot: KnotServer, options: CheckOptions
) -> None:
    names = _names()
    server = dns_nameserver.Do53Nameserver("127.0.0.1", knot.port)
    peer = {
        r["domain"]: r for r in checkdmarc.check_domains(names, nameservers=[server], timeout=1.0)
    }
    ours = {r.domain: r for r in check_fleet([DomainRequest(n) for n in names], options).results}
    seen = {(part, name) for name in names for part in _differences(peer[name], ours[name])}
    unexplained = seen - EXPLAINED.keys()
    stale = EXPLAINED.keys() - seen
    assert not unexplained, f"unexplained disagreements: {sorted(unexplained)}"
    assert not stale, f"explained disagreements that no longer happen: {sorted(stale)}"
    agreeing = len(names) * 2 - len(seen)
    assert agreeing > 90
