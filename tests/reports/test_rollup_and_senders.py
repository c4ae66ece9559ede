"""Pure logic: per-day splitting and sender naming (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from msp.reports.parsing import NetworkInfo, Service
from msp.reports.rollup import report_days, split_count
from msp.reports.senders import SenderIdentifier

CATALOGUE = {
    "google.com": Service("Google", "Email Provider"),
    "mcsv.net": Service("Mailchimp", None),
}
NET = {
    "192.0.2.1": NetworkInfo("US", 15169, "Google LLC", "google.com"),
    "192.0.2.2": NetworkInfo("DE", 64500, "Some ISP", "isp.test"),
}


def network(ip: str) -> NetworkInfo:
    return NET.get(ip, NetworkInfo(None, None, None, None))


def identifier(ptrs: dict[str, str], clock: list[float] | None = None) -> SenderIdentifier:
    ticks = clock if clock is not None else [0.0]
    return SenderIdentifier(
        catalogue=CATALOGUE,
        network=network,
        base_domain=lambda name: ".".join(name.rstrip(".").split(".")[-2:]),
        ptr=ptrs.get,
        clock=lambda: ticks[0],
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_one_day_report_counts_on_its_midpoint_day() -> None:
    assert report_days(utc(2025, 1, 1), utc(2025, 1, 1, 23, 59, 59)) == [(date(2025, 1, 1), 1.0)]
    assert report_days(utc(2025, 1, 1), utc(2025, 1, 2)) == [(date(2025, 1, 1), 1.0)]


def test_a_multi_day_report_is_split_with_an_exact_total() -> None:
    shares = report_days(utc(2025, 1, 1, 12), utc(2025, 1, 4))
    assert [d for d, _ in shares] == [date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)]
    split = split_count(7, shares)
    assert sum(n for _, n in split) == 7
    assert split[0][1] <= split[1][1]


def test_reverse_dns_base_domain_in_the_catalogue_names_the_service() -> None:
    ident = identifier({"192.0.2.9": "mail-a1.mcsv.net"}).identify("192.0.2.9")
    assert (ident.key, ident.name, ident.complete) == ("mcsv.net", "Mailchimp", True)


def test_without_reverse_dns_the_asn_domain_is_used() -> None:
    ids = identifier({})
    assert ids.identify("192.0.2.1").name == "Google"
    assert ids.identify("192.0.2.2").key == "isp.test"
    assert ids.identify("198.51.100.7").key == "ip:198.51.100.7"


def test_past_the_deadline_reverse_dns_is_skipped_and_marked_incomplete() -> None:
    clock = [10.0]
    ids = identifier({"192.0.2.9": "x.mcsv.net"}, clock)
    [ident] = ids.identify_many(["192.0.2.9"], deadline=5.0)
    assert not ident.complete and ident.key == "ip:192.0.2.9"
    [again] = ids.identify_many(["192.0.2.9"], deadline=50.0)
    assert again.complete and again.key == "mcsv.net"


def test_a_failing_resolver_degrades_to_the_fallback() -> None:
    def broken(_ip: str) -> str | None:
        raise TimeoutError

    ids = SenderIdentifier(
        catalogue=CATALOGUE, network=network, base_domain=lambda n: n, ptr=broken
    )
    assert ids.identify("192.0.2.1").key == "google.com"
