"""DNS failures: a timeout or a refusal is "unknown", never "missing", and raises no alarm."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from msp.dns.checker import DomainResult, check_domain
from msp.dns.findings import Severity
from msp.dns.options import CheckOptions
from msp.dns.resolver import Nameserver, ResolverSettings
from tests.dns.conftest import codes
from tests.support.net import silent_udp_port

Check = Callable[..., DomainResult]
MISSING_CODES = {
    "spf_missing",
    "dmarc_missing",
    "mx_missing",
    "tlsrpt_missing",
    "mta_sts_missing",
    "dkim_selector_missing",
}


@pytest.fixture
def silent_server() -> Iterator[Nameserver]:
    """A UDP port that receives queries and never answers (a timing-out name server)."""
    with silent_udp_port() as port:
        yield Nameserver("127.0.0.1", port)


def test_timeouts_make_every_section_unknown_not_missing(
    options: CheckOptions, silent_server: Nameserver
) -> None:
    opts = replace(options, resolver=ResolverSettings((silent_server,), timeout=0.2, retries=0))
    result = check_domain("good.test", opts, selectors=("mail",))
    statuses = {
        result.spf.status,
        result.dmarc.status,
        result.mx.status,
        result.mta_sts.status,
        result.tls_rpt.status,
        result.bimi.status,
        result.dkim["mail"].status,
    }
    assert statuses == {"unknown"}
    assert codes(result) == {"dns_lookup_failed"}
    assert all(f.severity is Severity.INFO for f in result.findings)
    assert result.spf.result == "temperror"


def test_refused_zone_is_unknown(check: Check) -> None:
    result = check("not-served.example")
    assert result.spf.status == "unknown" and result.dmarc.status == "unknown"
    assert not codes(result) & MISSING_CODES


def test_failed_include_is_a_temperror_not_a_missing_record(check: Check) -> None:
    result = check("spf-temperror.test")
    assert (result.spf.status, result.spf.valid, result.spf.result) == (
        "unknown",
        None,
        "temperror",
    )
    assert "spf_include_target_no_record" not in codes(result)
    assert result.dmarc.status == "valid"


def test_a_timeout_gives_an_unknown_grade_not_f(
    options: CheckOptions, silent_server: Nameserver
) -> None:
    opts = replace(options, resolver=ResolverSettings((silent_server,), timeout=0.2, retries=0))
    assert check_domain("good.test", opts).grade == "?"


def test_second_name_server_answers_when_the_first_times_out(
    options: CheckOptions, silent_server: Nameserver
) -> None:
    knot = options.resolver.nameservers[0]
    opts = replace(
        options, resolver=ResolverSettings((silent_server, knot), timeout=0.5, retries=2)
    )
    assert check_domain("good.test", opts).spf.status == "valid"


def test_a_domain_that_takes_too_long_is_given_up_with_the_same_shape(
    options: CheckOptions, silent_server: Nameserver
) -> None:
    opts = replace(
        options,
        resolver=ResolverSettings((silent_server,), timeout=0.5, retries=3),
        domain_deadline=0.3,
    )
    result = check_domain("good.test", opts)
    assert codes(result) == {"check_failed"}
    assert result.spf.status == result.dmarc.status == "unknown"
    assert set(result.as_dict()) == set(check_domain("good.test", options).as_dict())
