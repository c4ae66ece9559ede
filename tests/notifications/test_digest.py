"""The weekly posture digest: what it says for a seeded tenant (headline, chart data, one
sentence per domain, what changed, actions with their team and link), rendered as text and
HTML with inline images, and the schedule in each tenant's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from msp.db import utcnow
from msp.notifications.digest import build_digest, scheduled_in
from msp.notifications.digest_render import (
    CHART_CID,
    UNSUBSCRIBE_PLACEHOLDER,
    render_digest,
    with_data_uris,
)
from msp.notifications.digest_service import Schedule, week_due
from msp.notifications.digest_text import domain_sentence
from msp.notifications.settings import Brand
from msp.notifications.sources import DomainFacts, PlanFacts
from tests.notifications.digest_world import World, seed_world

BASE = "https://msp.example"
NOW = datetime(2026, 11, 30, 7, 30, tzinfo=UTC)  # Monday 08:30 in Berlin


@pytest.fixture
def world(db_session: Any) -> World:
    return seed_world(NOW)


def test_headline_counts_each_protection_level_and_what_moved(world: World) -> None:
    digest = build_digest(world.tenant, NOW, BASE)
    assert dict(digest.headline.counts) == {
        "reject": 1,
        "quarantine": 1,
        "monitoring": 1,
        "unprotected": 1,
    }
    assert dict(digest.headline.deltas) == {
        "reject": 1,
        "quarantine": 0,
        "monitoring": -1,
        "unprotected": 0,
    }
    assert digest.headline.sentences == (
        "1 domain moved to p=reject",
        "1 domain moved to quarantine",
    )
    assert digest.parked == ("old.contoso.example",)  # parked: listed, not counted


def test_chart_data_is_twelve_complete_weeks_of_volume_and_pass_share(world: World) -> None:
    weeks = build_digest(world.tenant, NOW, BASE).weeks
    assert len(weeks) == 12
    assert weeks[-1].start == datetime(2026, 11, 23).date()  # the last complete week
    assert [w.start.weekday() for w in weeks] == [0] * 12
    last = weeks[-1]
    # Google (~900/day) passes on three domains; the newsletter (~480/day) fails on shop;
    # the CRM (40/day, passing) started four days before NOW.
    assert 22_000 < last.messages < 23_000
    assert last.share is not None and 0.84 < last.share < 0.86
    assert weeks[0].share == 1.0  # the newsletter still signed with DKIM back then


def test_each_domain_gets_one_plain_sentence_and_a_link(world: World) -> None:
    lines = {d.name: d for d in build_digest(world.tenant, NOW, BASE).domains}
    assert set(lines) == {
        "contoso.example",
        "shop.contoso.example",
        "mail.contoso.example",
        "legacy.contoso.example",
    }
    assert lines["contoso.example"].sentence.startswith("Fully protected")
    assert lines["contoso.example"].grade == "A" and not lines["contoso.example"].attention
    shop = lines["shop.contoso.example"]
    assert shop.sentence.startswith("Blocked: 3,3") and "Newsletter Co" in shop.sentence
    assert shop.attention and shop.stage == "quarantine"
    assert lines["mail.contoso.example"].sentence == (
        "Next step: quarantine (test), waiting for your approval."
    )
    assert lines["legacy.contoso.example"].sentence.startswith("No DMARC record")
    assert lines["legacy.contoso.example"].protection == "unprotected"
    assert shop.link == f"{BASE}/domains/{world.shop.id}"


def test_changes_list_new_senders_record_changes_stage_moves_and_problems(world: World) -> None:
    changes = build_digest(world.tenant, NOW, BASE).changes
    found = {(c.what, c.domain) for c in changes}
    assert found == {
        ("new sender", "shop.contoso.example"),
        ("record change", "shop.contoso.example"),
        ("problem opened", "mail.contoso.example"),
        ("problem closed", "contoso.example"),
        ("stage move", "contoso.example"),
    }
    [new] = [c for c in changes if c.what == "new sender"]
    assert new.text.startswith("new sender Acme CRM (")


def test_actions_name_the_owning_team_and_link_into_the_web_view(world: World) -> None:
    actions = build_digest(world.tenant, NOW, BASE).actions
    first = actions[0]
    assert first.text == "Approve the move of mail.contoso.example to quarantine (test)"
    assert first.team == "Service desk" and first.link == f"{BASE}/domains/{world.mail.id}"
    newsletter = next(a for a in actions if a.text.startswith("3,3") and "Newsletter Co" in a.text)
    assert newsletter.team == "Security" and newsletter.domain == "shop.contoso.example"
    assert 1 < len(actions) <= 6


def test_html_and_text_say_the_same_with_the_chart_inline_and_nothing_remote(
    world: World,
) -> None:
    brand = Brand(name="Acme IT", color="#0a7d5a", reply_to="help@acme-it.example",
                  postal_address="1 Main St, Springfield")  # fmt: skip
    rendered = render_digest(build_digest(world.tenant, NOW, BASE), brand)
    html, text = rendered.html, rendered.text
    [chart] = rendered.images
    assert chart.cid == CHART_CID and chart.data.startswith(b"\x89PNG")
    assert f'src="cid:{CHART_CID}"' in html
    for needle in ("1 domain moved to p=reject", "Newsletter Co", "Service desk",
                   "Acme IT", "1 Main St, Springfield", "help@acme-it.example",
                   f"{BASE}/domains/{world.mail.id}", UNSUBSCRIBE_PLACEHOLDER):  # fmt: skip
        assert needle in html and needle in text, needle
    # no remote resource: every src is a cid:, and no script or stylesheet link
    assert "<script" not in html and "<link" not in html
    assert all(src.startswith("cid:") for src in _attributes(html, "src"))
    assert "#0a7d5a" in html  # the brand colour
    assert rendered.subject == "Contoso Ltd: your e-mail security this week (2026-W49)"
    assert "data:image/png;base64," in with_data_uris(html, rendered.images)


def _attributes(html: str, name: str) -> list[str]:
    import re

    return re.findall(rf'{name}="([^"]*)"', html)


def test_names_are_escaped_in_html(db_session: Any) -> None:
    world = seed_world(NOW, name="Contoso <Holdings>")
    rendered = render_digest(build_digest(world.tenant, NOW, BASE), Brand(), chart=False)
    assert "Contoso &lt;Holdings&gt;" in rendered.html and "<Holdings>" not in rendered.html
    assert rendered.images == ()


def test_a_tenant_without_reports_gets_no_chart_but_says_so(db_session: Any) -> None:
    from tests.factories import make_domain, make_tenant

    tenant = make_tenant(name="Quiet Co")
    make_domain(tenant, "quiet.example")
    rendered = render_digest(build_digest(tenant, utcnow(), BASE), Brand())
    assert rendered.images == ()
    assert "No DMARC reports received in the last 12 weeks." in rendered.text
    assert "Not checked yet" in rendered.text


def _facts(plan: PlanFacts | None, policy: str | None = "none") -> DomainFacts:
    from msp.dns.service import PostureView

    posture = PostureView(1, 1, NOW, "B", None, {}, policy, policy, True, 1, {}, None, (), {})
    return DomainFacts(1, "x.example", posture, policy, True, plan, ())


def _plan(**changes: Any) -> PlanFacts:
    values: dict[str, Any] = {
        "stage": "monitor",
        "next_stage": "quarantine_test",
        "readiness": 50,
        "action": "hold",
        "blocked": (),
        "ready_on": None,
        "change_to": None,
        "change_status": None,
        "change_at": None,
    }
    return PlanFacts(**{**values, **changes})


@pytest.mark.parametrize(
    ("plan", "sentence", "attention"),
    [
        (_plan(change_to="quarantine_test", change_status="scheduled",
               change_at=datetime(2026, 12, 4, 9, tzinfo=UTC)),
         "Next step: quarantine (test) on Fri 04 Dec.", False),
        (_plan(blocked=(("soak", "3 of 14 days in monitor"),),
               ready_on=datetime(2026, 12, 11, tzinfo=UTC)),
         "On track: quarantine (test) from Fri 11 Dec.", False),
        (_plan(blocked=(("coverage", "reports from 1 receivers, 2 needed"),
                        ("senders", "3,400 messages/week from Mailer fail DKIM alignment"))),
         "Blocked: 3,400 messages/week from Mailer fail DKIM alignment (and 1 more).", True),
        (_plan(), "Ready for quarantine (test): the change will be proposed at the next daily "
                  "check.", False),
        (_plan(stage="reject", next_stage=None), "Fully protected: receivers reject mail that "
                                                 "fails DMARC.", False),
    ],
)  # fmt: skip
def test_domain_sentences(plan: PlanFacts, sentence: str, attention: bool) -> None:
    assert domain_sentence(_facts(plan), NOW) == (sentence, attention)


@pytest.mark.parametrize(
    ("now", "schedule", "week"),
    [
        (datetime(2026, 11, 30, 6, 59, tzinfo=UTC), ("Europe/Berlin", 0, 8), None),
        (datetime(2026, 11, 30, 7, 0, tzinfo=UTC), ("Europe/Berlin", 0, 8), "2026-W49"),
        (datetime(2026, 11, 30, 7, 0, tzinfo=UTC), ("America/New_York", 0, 8), None),
        (datetime(2026, 11, 30, 13, 0, tzinfo=UTC), ("America/New_York", 0, 8), "2026-W49"),
        (datetime(2026, 11, 29, 23, 30, tzinfo=UTC), ("Asia/Tokyo", 0, 8), "2026-W49"),
        (datetime(2026, 12, 3, 12, 0, tzinfo=UTC), ("UTC", 0, 8), "2026-W49"),  # catch up
        (datetime(2026, 12, 3, 12, 0, tzinfo=UTC), ("UTC", 4, 16), None),  # Friday 16:00
        (datetime(2026, 12, 4, 16, 0, tzinfo=UTC), ("UTC", 4, 16), "2026-W49"),
    ],
)
def test_the_digest_is_due_from_its_day_and_hour_in_the_tenants_time_zone(
    now: datetime, schedule: tuple[str, int, int], week: str | None
) -> None:
    zone, weekday, hour = schedule
    assert week_due(Schedule(True, weekday, hour, zone, (), True), now) == week


def test_scheduled_in_reads_iso_weeks() -> None:
    from zoneinfo import ZoneInfo

    moment = scheduled_in("2026-W01", 0, 8, ZoneInfo("Europe/Berlin"))
    assert moment == datetime(2025, 12, 29, 8, tzinfo=ZoneInfo("Europe/Berlin"))
    assert moment + timedelta(days=7) == scheduled_in("2026-W02", 0, 8, ZoneInfo("Europe/Berlin"))
