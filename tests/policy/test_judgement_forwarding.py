"""Judgement 3: forwarders and mailing lists are classified by evidence, grouped as one
"forwarded mail" line, kept out of the blocking gates, and shown apart in the what-if."""

from __future__ import annotations

from dataclasses import replace

import pytest

from msp.policy.engine import Action, evaluate
from msp.policy.facts import SenderStatus
from msp.policy.forwarding import RecordEvidence, forwarding_signs
from msp.policy.simulate import DailyRow, parse_proposal, simulate
from msp.policy.views import simulation_view

from .builders import NOW, day, facts, sender

DOMAIN = "example.test"


def rec(**changes: object) -> RecordEvidence:
    base = RecordEvidence(DOMAIN, DOMAIN, None, None, (), ())
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "forwarded"),
    [
        (rec(dkim=(("example.test", "s1", "fail"),)), True),  # own signature broken by a list
        (rec(dkim=(("mail.example.test", "s1", "fail"),)), True),
        (rec(reasons=("mailing_list",)), True),
        (rec(reasons=("local_policy arc=pass",)), True),
        (rec(spf_domain="lists.org.test", spf_result="pass", ptr="mx.lists.org.test"), True),
        (rec(spf_domain="gmail.test", spf_result="pass", service_type="Email Provider"), True),
        (rec(spf_domain="spoof.test", spf_result="pass"), False),  # one weak sign only
        (rec(dkim=(("spoof.test", "x", "pass"),)), False),  # someone else's signature
        (rec(dkim=(("example.test", "s1", "pass"),)), False),  # not failing: not forwarding
        (rec(), False),
    ],
)
def test_forwarding_is_classified_by_evidence(record: RecordEvidence, forwarded: bool) -> None:
    assert bool(forwarding_signs([record])) is forwarded


def list_subscriber(index: int, first_seen_days_ago: int = 2) -> object:
    return replace(
        sender(f"mx{index}.subscriber.test", SenderStatus.UNKNOWN, 18, 0, dkim_pass=0, spf_pass=0),
        first_seen=day(first_seen_days_ago),
        forwarding=("own DKIM signature (example.test) present but failing",),
    )


def test_new_list_subscribers_do_not_block_escalation_and_form_one_line() -> None:
    subscribers = tuple(list_subscriber(i) for i in range(12))
    big = replace(list_subscriber(99), messages=400)  # a busy forwarder
    blocked_before = evaluate(
        facts(senders=(sender(), *(replace(s, forwarding=()) for s in (*subscribers, big)))), NOW
    )
    assert blocked_before.action is Action.HOLD  # unknown senders without the evidence block
    result = evaluate(facts(senders=(sender(), *subscribers, big)), NOW)
    assert result.action is Action.PROPOSE
    assert result.forwarded is not None
    assert (result.forwarded.sources, result.forwarded.messages) == (13, 12 * 18 + 400)


def test_an_approved_sender_is_never_hidden_as_forwarded() -> None:
    broken = replace(
        sender(messages=1000, passing=0, dkim_pass=0, spf_pass=0),
        forwarding=("own DKIM signature (example.test) present but failing",),
    )
    result = evaluate(facts(senders=(broken,)), NOW)
    assert result.action is Action.HOLD and result.forwarded is None


def row(key: str, count: int, *, forwarded: bool = False, aligned: bool = False) -> DailyRow:
    return DailyRow(
        day(1),
        key,
        SenderStatus.UNKNOWN,
        DOMAIN,
        "none",
        aligned,
        aligned,
        count,
        key,
        None,
        None,
        forwarded,
    )


def test_the_what_if_shows_forwarded_mail_as_one_line_apart_from_unknown() -> None:
    rows = [row(f"mx{i}.sub.test", 10, forwarded=True) for i in range(5)]
    rows += [row("shadow.test", 50)]
    result = simulate(DOMAIN, rows, parse_proposal("v=DMARC1; p=reject"))
    view = simulation_view(result, "v=DMARC1; p=reject")
    assert view["totals"]["forwarded"] == {"quarantined": 0, "rejected": 50}
    assert view["totals"]["unknown"] == {"quarantined": 0, "rejected": 50}
    line = next(s for s in view["senders"] if s["sender"] == "forwarded")
    assert (line["status"], line["sources"], line["messages"]) == ("forwarded", 5, 50)
    assert len(view["senders"]) == 2
