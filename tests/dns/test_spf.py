"""SPF against knot: lookup arithmetic, void lookups, loops, record selection and findings."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from msp.dns.checker import DomainResult
from tests.dns.conftest import codes

Check = Callable[..., DomainResult]


def test_exactly_ten_lookups_through_nested_includes_is_valid(check: Check) -> None:
    spf = check("spf-ten.test").spf
    assert (spf.status, spf.valid, spf.dns_lookups) == ("valid", True, 10)
    assert spf.lookup_breakdown[0].lookups == 10


def test_eleven_lookups_through_nested_includes_is_a_permerror(check: Check) -> None:
    result = check("spf-eleven.test")
    assert (result.spf.valid, result.spf.result, result.spf.dns_lookups) == (False, "permerror", 11)
    assert "spf_too_many_lookups" in codes(result)


def test_two_void_lookups_pass_and_three_fail(check: Check) -> None:
    two, three = check("spf-void2.test"), check("spf-void3.test")
    assert (two.spf.void_lookups, two.spf.valid) == (2, True)
    assert "spf_too_many_void_lookups" not in codes(two)
    assert (three.spf.void_lookups, three.spf.valid) == (3, False)
    assert "spf_too_many_void_lookups" in codes(three)


def test_include_loop_is_named(check: Check) -> None:
    result = check("spf-loop.test")
    loop = next(f for f in result.findings if f.code == "spf_include_loop")
    assert loop.detail == "spf-loop.test -> l2.spf-loop.test -> spf-loop.test"
    assert result.spf.valid is False


def test_record_split_over_several_strings_is_joined_without_separator(check: Check) -> None:
    spf = check("spf-split.test").spf
    assert spf.record is not None and len(spf.record) > 255
    assert "ip4:198.51.100.39" in spf.record and spf.valid is True
    assert "198.51.100.1/32" in spf.networks_ip4


def test_uppercase_record_and_terms_are_accepted(check: Check) -> None:
    spf = check("spf-upper.test").spf
    assert (spf.valid, spf.dns_lookups, spf.all) == (True, 1, "-all")


def test_two_records_are_a_permerror(check: Check) -> None:
    result = check("spf-two.test")
    assert result.spf.status == "invalid" and "multiple_spf_records" in codes(result)


def test_syntax_errors_are_all_reported(check: Check) -> None:
    result = check("spf-syntax.test")
    error = next(f for f in result.findings if f.code == "spf_syntax_error")
    assert "inculde" in error.detail and "192.0.2.300" in error.detail
    assert result.spf.result == "permerror"


@pytest.mark.parametrize(
    ("domain", "code"),
    [
        ("spf-inc-missing.test", "spf_include_target_no_record"),
        ("spf-redir-missing.test", "spf_redirect_target_no_record"),
        ("spf-mx11.test", "spf_mx_too_many_records"),
    ],
)
def test_permerrors_of_targets(check: Check, domain: str, code: str) -> None:
    result = check(domain)
    assert code in codes(result) and result.spf.valid is False


@pytest.mark.parametrize(
    ("domain", "code"),
    [
        ("spf-redir-all.test", "spf_redirect_ignored_all_present"),
        ("spf-ptr.test", "spf_ptr_mechanism"),
        ("spf-plusall.test", "spf_all_pass"),
        ("spf-neutral.test", "spf_all_neutral"),
        ("spf-noall.test", "spf_no_all"),
        ("spf-after-all.test", "spf_terms_after_all"),
        ("spf-long.test", "spf_record_too_long"),
        ("spf-type99.test", "spf_rr_type_obsolete"),
        ("spf-senderid.test", "spf_sender_id_obsolete"),
        ("spf-missing.test", "spf_missing"),
    ],
)
def test_warnings_and_errors_on_the_record(check: Check, domain: str, code: str) -> None:
    assert code in codes(check(domain))


def test_redirect_ignored_beside_all_costs_no_lookup(check: Check) -> None:
    assert check("spf-redir-all.test").spf.dns_lookups == 0


def test_terms_after_all_are_not_counted(check: Check) -> None:
    assert check("spf-after-all.test").spf.dns_lookups == 0


def test_redirect_takes_the_targets_result_and_costs_one_lookup(check: Check) -> None:
    spf = check("spf-redirect.test").spf
    assert (spf.valid, spf.result, spf.dns_lookups) == (True, "softfail", 1)
    assert spf.networks_ip4 == ("192.0.2.0/24",)


def test_plus_all_reached_through_redirect_is_flagged(check: Check) -> None:
    result = check("spf-redir-pass.test")
    assert result.spf.result == "pass" and "spf_all_pass" in codes(result)


def test_all_and_plus_all_results(check: Check) -> None:
    assert check("spf-plusall.test").spf.result == "pass"
    assert check("spf-noall.test").spf.result == "neutral"


def test_authorised_networks_resolve_a_and_mx_with_cidr(check: Check) -> None:
    spf = check("spf-networks.test").spf
    assert spf.networks_ip4 == ("192.0.2.7/32", "198.51.100.0/28")
    assert spf.networks_ip6 == ("2001:db8::/32", "2001:db8::9/128")
    assert spf.dns_lookups == 2


def test_missing_record_is_missing_not_unknown(check: Check) -> None:
    spf = check("spf-missing.test").spf
    assert (spf.status, spf.valid) == ("missing", None)
