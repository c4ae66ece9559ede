"""DMARC against knot: discovery, the policy each kind of receiver applies, tags and URIs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from msp.dns.checker import DomainResult
from tests.dns.conftest import codes

Check = Callable[..., DomainResult]


def test_own_record_applies_p(check: Check) -> None:
    dmarc = check("dm-org.test").dmarc
    assert (dmarc.location, dmarc.policy_applied.policy, dmarc.policy_applied.tag) == (
        "_dmarc.dm-org.test",
        "reject",
        "p",
    )


def test_existing_subdomain_gets_sp_from_the_organisational_record(check: Check) -> None:
    dmarc = check("sub.dm-org.test").dmarc
    assert dmarc.location == "_dmarc.dm-org.test"
    assert (dmarc.policy_applied.policy, dmarc.policy_applied.tag) == ("quarantine", "sp")
    assert dmarc.policy_applied_rfc7489.policy == "quarantine"


def test_non_existent_subdomain_gets_np_under_rfc9989_and_sp_under_rfc7489(check: Check) -> None:
    dmarc = check("nx.dm-org.test").dmarc
    assert (dmarc.policy_applied.policy, dmarc.policy_applied.tag) == ("reject", "np")
    assert (dmarc.policy_applied_rfc7489.policy, dmarc.policy_applied_rfc7489.tag) == (
        "quarantine",
        "sp",
    )


def test_psd_n_makes_the_subdomain_its_own_organisational_domain(check: Check) -> None:
    dmarc = check("host.unit.dm-psd.test").dmarc
    assert dmarc.org_domain == "unit.dm-psd.test"
    assert dmarc.org_domain_rfc7489 == "dm-psd.test"
    assert dmarc.policy_applied.policy == "reject"  # found at unit.dm-psd.test, sp -> p
    assert dmarc.policy_applied_rfc7489.policy == "none"  # the PSL org domain's p=none


def test_rfc9989_and_rfc7489_views_differ_with_psd_n(check: Check) -> None:
    dmarc = check("host.unit.dm-rfcdiff.test").dmarc
    assert dmarc.policy_applied.policy == "quarantine"
    assert (dmarc.policy_applied_rfc7489.policy, dmarc.policy_applied_rfc7489.tag) == ("none", "sp")


def test_two_records_are_discarded_and_rfc9989_walks_on(check: Check) -> None:
    result = check("sub.dm-two.test")
    assert "multiple_dmarc_records" in codes(result)
    assert result.dmarc.location == "_dmarc.dm-two.test"
    assert result.dmarc.policy_applied.policy == "reject"
    assert result.dmarc.policy_applied_rfc7489.policy is None  # RFC 7489 stops: no DMARC


def test_uppercase_tags_are_flagged_and_still_read(check: Check) -> None:
    result = check("dm-upper.test")
    assert "dmarc_tag_case_nonstandard" in codes(result)
    assert result.dmarc.policy_applied.policy == "reject"
    assert result.dmarc.tags["p"] == "Reject"


@pytest.mark.parametrize(
    ("domain", "code"),
    [
        ("dm-vlate.test", "dmarc_version_not_first"),
        ("dm-vcase.test", "dmarc_version_invalid"),
        ("dm-nosemi.test", "dmarc_syntax_error"),
    ],
)
def test_broken_records_are_ignored_with_a_reason(check: Check, domain: str, code: str) -> None:
    result = check(domain)
    assert {code, "dmarc_missing"} <= codes(result)
    assert result.dmarc.status == "invalid"
    assert result.dmarc.policy_applied.policy is None


def test_invalid_p_with_a_valid_rua_means_none(check: Check) -> None:
    result = check("dm-badp-rua.test")
    assert "dmarc_invalid_tag_value" in codes(result)
    assert result.dmarc.policy_applied.policy == "none"
    assert result.dmarc.policy_applied_rfc7489.policy == "none"


def test_invalid_p_without_rua_means_no_dmarc(check: Check) -> None:
    dmarc = check("dm-badp.test").dmarc
    assert dmarc.policy_applied.policy is None and dmarc.policy_applied_rfc7489.policy is None


def test_pct_is_partial_under_rfc7489_and_ignored_under_rfc9989(check: Check) -> None:
    result = check("dm-pct.test")
    assert {"dmarc_pct_not_100", "dmarc_deprecated_tag"} <= codes(result)
    assert result.dmarc.policy_applied.policy == "quarantine"
    assert (
        result.dmarc.policy_applied_rfc7489.policy,
        result.dmarc.policy_applied_rfc7489.pct,
    ) == ("quarantine", 25)


def test_testing_mode_applies_one_level_below(check: Check) -> None:
    result = check("dm-testing.test")
    assert "dmarc_testing_mode" in codes(result)
    assert (result.dmarc.policy_applied.policy, result.dmarc.policy_applied.testing) == (
        "quarantine",
        True,
    )
    assert result.dmarc.policy_applied_rfc7489.policy == "reject"


def test_external_destinations_need_authorisation(check: Check) -> None:
    result = check("dm-ext.test")
    auth = {d.host: d.authorized for d in result.dmarc.destinations}
    assert auth == {"auth.test": True, "wild.test": True, "noauth.test": False}
    unauthorised = [
        f.detail for f in result.findings if f.code == "dmarc_external_rua_unauthorized"
    ]
    assert unauthorised == ["mailto:c@noauth.test"]


def test_report_uris(check: Check) -> None:
    found = codes(check("dm-baduri.test"))
    assert {"dmarc_rua_invalid_uri", "dmarc_uri_size_limit_obsolete"} <= found


@pytest.mark.parametrize(
    ("domain", "code"),
    [
        ("dm-norua.test", "dmarc_rua_missing"),
        ("dm-nop.test", "dmarc_p_missing"),
        ("dm-apex.test", "dmarc_record_wrong_location"),
        ("dm-badtag.test", "dmarc_invalid_tag_value"),
        ("dm-none.test", "dmarc_missing"),
        ("dm-psd.test", "dmarc_policy_none"),
    ],
)
def test_record_findings(check: Check, domain: str, code: str) -> None:
    assert code in codes(check(domain))


def test_missing_p_means_none_under_rfc9989_and_none_with_rua_under_rfc7489(check: Check) -> None:
    dmarc = check("dm-nop.test").dmarc
    assert dmarc.policy_applied.policy == "none"
    assert dmarc.policy_applied_rfc7489.policy == "none"


def test_unrelated_txt_at_dmarc_is_discarded(check: Check) -> None:
    result = check("dm-noise.test")
    assert result.dmarc.status == "valid" and result.dmarc.policy_applied.policy == "reject"


def test_absent_record_is_missing(check: Check) -> None:
    dmarc = check("dm-none.test").dmarc
    assert (dmarc.status, dmarc.record, dmarc.policy_applied.policy) == ("missing", None, None)


def test_policy_is_the_organisational_domains_not_the_first_record_on_the_way_up(
    check: Check,
) -> None:
    """RFC 9989 §4.10.1: x.y.dm-walk.test has no record; _dmarc.y (p=none, no psd) is neither
    its policy nor its organisational domain; _dmarc.dm-walk.test's sp=reject applies, as under
    RFC 7489 (PSL)."""
    dmarc = check("x.y.dm-walk.test").dmarc
    assert dmarc.location == "_dmarc.dm-walk.test"
    assert dmarc.org_domain == "dm-walk.test"
    assert (dmarc.policy_applied.policy, dmarc.policy_applied.tag) == ("reject", "sp")
    assert (dmarc.policy_applied_rfc7489.policy, dmarc.policy_applied_rfc7489.tag) == (
        "reject",
        "sp",
    )


def test_an_intermediate_record_still_governs_its_own_name(check: Check) -> None:
    dmarc = check("y.dm-walk.test").dmarc
    assert (dmarc.location, dmarc.policy_applied.policy) == ("_dmarc.y.dm-walk.test", "none")
