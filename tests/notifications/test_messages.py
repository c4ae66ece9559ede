"""What event messages say: subjects, words for known kinds, the machine form."""

from __future__ import annotations


def test_event_messages_say_what_changed_in_words() -> None:
    from datetime import UTC, datetime

    from msp.notifications.messages import EventFacts, event_message

    def facts(kind: str, payload: dict[str, object]) -> EventFacts:
        return EventFacts(
            1,
            kind,
            "warning",
            datetime(2026, 11, 30, tzinfo=UTC),
            payload,  # type: ignore[arg-type]
            7,
            "acme",
            "Acme",
            3,
            "acme.example",
        )

    drift = event_message(
        facts("dns.drift", {"key": "spf", "old": "v=spf1 -all", "new": None}),
        "https://msp.example/",
    )
    assert drift.subject == "[WARNING] DNS records changed: acme.example"
    assert "The spf record changed.\n  Before: v=spf1 -all\n  Now:    (none)" in drift.text
    assert "https://msp.example/tenants/7" in drift.text
    senders = event_message(
        facts(
            "sender.new",
            {
                "count": 2,
                "senders": [
                    {"key": "a", "name": "Mailchimp"},
                    {"key": "b", "name": "ip:192.0.2.9"},
                ],
            },
        ),
        "x",
    )
    assert "2 new sending source(s): Mailchimp, ip:192.0.2.9" in senders.text
    assert senders.data["event"]["payload"]["count"] == 2
