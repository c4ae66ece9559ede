"""Proof of issue 5: the engine over a synthetic fleet (60 domains, 120 days of report facts)."""

from __future__ import annotations

import pytest

from .fleet import Fleet, FleetReport

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(domains=60, days=120, seed=5)


@pytest.fixture(scope="module")
def report(fleet: Fleet) -> FleetReport:
    return fleet.run()


def test_the_fleet_is_big_enough_and_has_shadow_it_appearing_mid_way(fleet: Fleet) -> None:
    assert len(fleet.domains) >= 50 and fleet.days >= 120
    shadow = [s for d in fleet.domains for s in d.senders if s.key == "shadow-it"]
    assert len(shadow) >= 10
    assert all(20 <= s.appear <= 70 and s.failing for s in shadow)


def test_no_legitimate_message_is_lost_to_an_escalation(
    report: FleetReport, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():
        print("\n" + report.summary())
    assert report.lost_to_escalation == 0
    assert report.unsafe_issues == 0


@pytest.mark.parametrize("seed", [3, 6])
def test_other_worlds_lose_nothing_to_escalation_either(seed: int) -> None:
    other = Fleet(domains=60, days=120, seed=seed).run()
    assert (other.lost_to_escalation, other.unsafe_issues, other.held_while_ready) == (0, 0, 0)
    assert all(r is not None and r - b <= 2 for _, b, r in other.breaks if b <= other.days - 3)


def test_a_domain_is_never_held_back_once_every_gate_passes(report: FleetReport) -> None:
    assert report.held_while_ready == 0
    assert len(report.days_to_reject) >= 30
    assert 42 <= report.median_days_to_reject <= 100


def test_a_known_sender_breaking_after_escalation_is_rolled_back_within_two_days(
    report: FleetReport,
) -> None:
    watched = [b for b in report.breaks if b[1] <= report.days - 3]  # time left to react
    assert len(watched) >= 5
    for name, broke, rolled_back in watched:
        assert rolled_back is not None and rolled_back - broke <= 2, name


def test_parked_domains_take_the_fast_path(report: FleetReport) -> None:
    assert report.parked_days and max(report.parked_days) <= 7


def test_calendar_only_escalation_loses_mail_in_the_same_world(
    capsys: pytest.CaptureFixture[str],
) -> None:
    baseline = Fleet(domains=60, days=120, seed=5, careless=True).run()
    with capsys.disabled():
        print("\ncalendar-only baseline: " + baseline.summary())
    assert baseline.lost_to_escalation > 0


def test_rare_senders_are_remembered_and_forgetting_them_loses_mail(fleet: Fleet) -> None:
    """Issue 15, judgement 1: payroll runs every four weeks; an engine that remembers senders
    only for its 14-day window escalates over them and loses their next run."""
    payroll = [s for d in fleet.domains for s in d.senders if s.key == "payroll"]
    assert len(payroll) >= 10 and all(s.every == 28 for s in payroll)
    forgetful = Fleet(domains=60, days=120, seed=5, forgetful=True).run()
    assert forgetful.lost_to_escalation > 0


def test_forwarded_list_mail_never_blocks_and_is_one_line(report: FleetReport) -> None:
    assert report.forwarded_sources >= 5
    assert report.blocked_by_forwarded == 0


def test_dns_outages_during_proposals_withdraw_remind_and_move_nothing(
    report: FleetReport,
) -> None:
    assert report.outage_checks >= 100 and report.outage_with_open_change >= 5
    assert report.outage_harm == 0


def test_domains_adopted_at_reject_without_reporting_are_flagged_every_day(
    report: FleetReport,
) -> None:
    assert report.adopted_evaluations == 3 * report.days
    assert report.adopted_flagged == report.adopted_evaluations
