"""DMARC policy discovery on hand-made walks: which failed lookup makes the answer unknown."""

from __future__ import annotations

from msp.dns.dmarc import Found, discover, undecided
from msp.dns.resolver import Answer, Status

RECORD = "v=DMARC1; p=reject; rua=mailto:d@example.com"


def found(name: str, status: Status, *records: str) -> Found:
    return Found(name, Answer(f"_dmarc.{name}", "TXT", status, records), records, ())


def test_a_timed_out_own_lookup_is_unknown_even_when_the_parent_answers() -> None:
    walk = [found("mail.example.com", Status.ERROR), found("example.com", Status.ANSWER, RECORD)]
    assert undecided(walk, "mail.example.com") == [walk[0]]


def test_a_failure_at_the_public_suffix_decides_nothing() -> None:
    walk = [found("example.com", Status.NXDOMAIN), found("com", Status.ERROR)]
    assert undecided(walk, "example.com") == []
    assert discover(walk, "example.com") is None


def test_a_failure_between_the_domain_and_its_registered_domain_is_unknown() -> None:
    walk = [
        found("a.b.example.com", Status.NXDOMAIN),
        found("b.example.com", Status.ERROR),
        found("example.com", Status.ANSWER, RECORD),
        found("com", Status.NXDOMAIN),
    ]
    assert undecided(walk, "a.b.example.com") == [walk[1]]


def test_an_own_record_needs_no_parent() -> None:
    walk = [found("example.com", Status.ANSWER, RECORD), found("com", Status.ERROR)]
    assert undecided(walk, "example.com") == []
    assert discover(walk, "example.com") is walk[0]
