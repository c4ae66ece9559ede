"""What-if replays of daily rows under a proposed record, as RFC 9989 and RFC 7489 see it."""

from __future__ import annotations

import pytest

from msp.policy.facts import SenderStatus
from msp.policy.simulate import (
    DailyRow,
    Outcome,
    SimulationInputError,
    parse_proposal,
    simulate,
)

from .builders import day

APPROVED, UNKNOWN = SenderStatus.APPROVED, SenderStatus.UNKNOWN


def row(
    sender: str,
    status: SenderStatus,
    count: int,
    *,
    aligned: bool = True,
    header_from: str = "example.test",
    days_ago: int = 1,
    **extra: object,
) -> DailyRow:
    return DailyRow(
        day=day(days_ago),
        sender_key=sender,
        sender_status=status,
        header_from=header_from,
        disposition="none",
        spf_aligned=aligned,
        dkim_aligned=aligned,
        count=count,
        **extra,  # type: ignore[arg-type]
    )


ROWS = [
    row("google", APPROVED, 900),
    row("google", APPROVED, 100, aligned=False, days_ago=2),
    row("newsletter", APPROVED, 40, aligned=False, header_from="news.example.test"),
    row("spoofer", UNKNOWN, 300, aligned=False),
]


@pytest.mark.parametrize(
    ("record", "approved_9989", "approved_7489", "unknown_worst"),
    [
        ("v=DMARC1; p=none", Outcome(), Outcome(), Outcome()),
        ("v=DMARC1; p=quarantine", Outcome(140, 0), Outcome(140, 0), Outcome(300, 0)),
        # t=y: RFC 9989 receivers step down to none; RFC 7489 ones ignore t and quarantine
        ("v=DMARC1; p=quarantine; t=y", Outcome(), Outcome(140, 0), Outcome(300, 0)),
        # legacy ramp: pct=0 makes RFC 7489 receivers step down too
        ("v=DMARC1; p=quarantine; t=y; pct=0", Outcome(), Outcome(), Outcome()),
        ("v=DMARC1; p=reject; sp=quarantine", Outcome(40, 100), Outcome(40, 100), Outcome(0, 300)),
        ("v=DMARC1; p=reject; t=y; pct=0", Outcome(140, 0), Outcome(140, 0), Outcome(300, 0)),
        ("v=DMARC1; p=reject; pct=50", Outcome(0, 140), Outcome(70, 70), Outcome(0, 300)),
    ],
)
def test_replay_counts_what_each_kind_of_receiver_would_do(
    record: str, approved_9989: Outcome, approved_7489: Outcome, unknown_worst: Outcome
) -> None:
    result = simulate("example.test", ROWS, parse_proposal(record))
    approved = [s for s in result.senders if s.status is APPROVED]
    assert sum((s.rfc9989 for s in approved), Outcome()) == approved_9989
    assert sum((s.rfc7489 for s in approved), Outcome()) == approved_7489
    assert result.group([UNKNOWN]) == unknown_worst
    assert result.days == 2


def test_senders_are_listed_most_affected_first_with_their_totals() -> None:
    result = simulate("example.test", ROWS, parse_proposal("v=DMARC1; p=reject"))
    assert [(s.sender_key, s.messages, s.failing) for s in result.senders] == [
        ("spoofer", 300, 300),
        ("google", 1000, 100),
        ("newsletter", 40, 40),
    ]


def test_strict_alignment_uses_the_authenticated_domains() -> None:
    rows = [
        row("esp", APPROVED, 10, spf_domain="bounce.example.test", dkim_domains=("example.test",)),
        row("crm", APPROVED, 20, spf_domain="bounce.example.test", dkim_domains=("esp.test",)),
    ]
    result = simulate("example.test", rows, parse_proposal("v=DMARC1; p=reject; adkim=s; aspf=s"))
    assert {s.sender_key: s.failing for s in result.senders} == {"esp": 0, "crm": 20}
    assert result.strict_alignment_estimated is False


def test_strict_alignment_without_domains_is_counted_as_failing_and_flagged() -> None:
    result = simulate(
        "example.test",
        [row("esp", APPROVED, 10)],
        parse_proposal("v=DMARC1; p=reject; adkim=s; aspf=s"),
    )
    assert result.senders[0].failing == 10
    assert result.strict_alignment_estimated is True


@pytest.mark.parametrize(
    "record",
    [
        "p=reject",
        "v=DMARC1; p=drop",
        "v=DMARC1; p=reject; pct=101",
        "v=DMARC1; adkim=x",
        "v=DMARC1; p=reject; np=maybe",
    ],
)
def test_a_malformed_proposal_is_refused(record: str) -> None:
    with pytest.raises(SimulationInputError):
        parse_proposal(record)
