"""DKIM, MX, MTA-STS (with a real HTTPS server), TLS-RPT and BIMI against knot."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from msp.dns.checker import DomainResult, check_domain
from msp.dns.http import HttpSettings
from msp.dns.mta_sts import mx_covered
from msp.dns.options import CheckOptions
from tests.dns.conftest import codes

Check = Callable[..., DomainResult]

SELECTORS = (
    "good",
    "weak",
    "short",
    "pkcs1",
    "ed",
    "revoked",
    "testing",
    "sha1",
    "garbage",
    "dup",
    "ktype",
    "service",
    "two",
    "alias",
    "absent",
)


@pytest.fixture(scope="module")
def dkim(check: Check) -> DomainResult:
    return check("dkim.test", SELECTORS)


def _detail_codes(result: DomainResult, selector: str) -> set[str]:
    return {f.code for f in result.findings if f.detail.split(":")[0] == selector}


@pytest.mark.parametrize(
    ("selector", "status", "bits", "code"),
    [
        ("good", "valid", 2048, None),
        ("weak", "valid", 1024, "dkim_key_weak"),
        ("short", "invalid", 768, "dkim_key_too_short"),
        ("pkcs1", "valid", 2048, None),
        ("ed", "valid", 256, None),
        ("revoked", "invalid", None, "dkim_key_revoked"),
        ("testing", "valid", 2048, "dkim_testing_mode"),
        ("sha1", "invalid", 2048, "dkim_key_sha1_only"),
        ("garbage", "invalid", None, "dkim_key_syntax_error"),
        ("dup", "invalid", None, "dkim_key_syntax_error"),
        ("ktype", "invalid", None, "dkim_key_type_unknown"),
        ("service", "invalid", 2048, "dkim_service_not_email"),
        ("two", "valid", -1, "dkim_multiple_records"),  # which key is read first is undefined
        ("alias", "valid", 2048, None),
        ("absent", "missing", None, "dkim_selector_missing"),
    ],
)
def test_dkim_keys(
    dkim: DomainResult, selector: str, status: str, bits: int | None, code: str | None
) -> None:
    key = dkim.dkim[selector]
    assert key.status == status
    assert key.key_bits == bits or bits == -1
    if code:
        assert code in _detail_codes(dkim, selector)


def test_common_selectors_are_probed_when_none_is_known(check: Check) -> None:
    result = check("dkim-probe.test")
    assert list(result.dkim) == ["selector1"]
    assert result.dkim["selector1"].source == "probed"


def test_nothing_under_domainkey_means_no_dkim_without_probing_each_selector(check: Check) -> None:
    result = check("dkim-nothing.test")
    assert result.dkim == {} and "dkim_none_found" in codes(result)


@pytest.mark.parametrize(
    ("domain", "status", "code"),
    [
        ("mx-null.test", "null", None),
        ("mx-null-other.test", "invalid", "mx_null_with_other_mx"),
        ("mx-null-bad.test", "null", "mx_null_malformed"),
        ("mx-cname.test", "invalid", "mx_target_is_cname"),
        ("mx-noaddr.test", "invalid", "mx_host_no_address"),
        ("mx-missing.test", "missing", "mx_missing"),
        ("mx-ip.test", "invalid", "mx_target_ip_literal"),
    ],
)
def test_mx(check: Check, domain: str, status: str, code: str | None) -> None:
    result = check(domain)
    assert result.mx.status == status
    if code:
        assert code in codes(result)


def test_valid_mta_sts_policy_covers_every_mx(check: Check) -> None:
    result = check("sts-enforce.test")
    sts = result.mta_sts
    assert (sts.status, sts.id) == ("valid", "20240101")
    assert sts.policy is not None and sts.policy.mode == "enforce"
    assert sts.policy.mx == ("mx1.sts-enforce.test", "mx2.sts-enforce.test")
    assert not {c for c in codes(result) if c.startswith("mta_sts")}


@pytest.mark.parametrize(
    ("domain", "code"),
    [
        ("sts-testing.test", "mta_sts_mode_testing"),
        ("sts-testing.test", "mta_sts_testing_without_tlsrpt"),
        ("sts-short.test", "mta_sts_max_age_short"),
        ("sts-uncovered.test", "mta_sts_mx_not_covered"),
        ("sts-redirect.test", "mta_sts_policy_unfetchable"),
        ("sts-notfound.test", "mta_sts_policy_unfetchable"),
        ("sts-badpolicy.test", "mta_sts_policy_invalid"),
        ("sts-badtype.test", "mta_sts_policy_invalid"),
        ("sts-badrecord.test", "mta_sts_record_invalid"),
        ("sts-two.test", "mta_sts_multiple_records"),
        ("sts-nohost.test", "mta_sts_policy_host_missing"),
        ("good.test", "mta_sts_missing"),
    ],
)
def test_mta_sts_findings(check: Check, domain: str, code: str) -> None:
    assert code in codes(check(domain))


def test_wildcard_policy_covers_one_label(check: Check) -> None:
    assert check("sts-wildcard.test").mta_sts.status == "valid"
    assert mx_covered("mx1.example.test", ("*.example.test",))
    assert not mx_covered("a.mx1.example.test", ("*.example.test",))
    assert not mx_covered("example.test", ("*.example.test",))


def test_policy_from_a_private_address_is_refused_unless_allowed(check: Check) -> None:
    result = check("sts-private.test", http=HttpSettings())
    finding = next(f for f in result.findings if f.code == "mta_sts_policy_unfetchable")
    assert "refused" in finding.detail


def test_policy_signed_by_an_unknown_ca_is_refused(check: Check, options: object) -> None:
    port = options.http.port  # type: ignore[attr-defined]
    result = check("sts-enforce.test", http=HttpSettings(allow_private=True, port=port))
    finding = next(f for f in result.findings if f.code == "mta_sts_policy_unfetchable")
    assert "CERTIFICATE_VERIFY_FAILED" in finding.detail or "certificate" in finding.detail


@pytest.mark.parametrize(
    ("domain", "status", "code"),
    [
        ("tls-ok.test", "valid", None),
        ("tls-bad.test", "invalid", "tlsrpt_record_invalid"),
        ("tls-http.test", "invalid", "tlsrpt_rua_invalid"),
        ("tls-two.test", "invalid", "tlsrpt_multiple_records"),
        ("good.test", "missing", "tlsrpt_missing"),
    ],
)
def test_tls_rpt(check: Check, domain: str, status: str, code: str | None) -> None:
    result = check(domain)
    assert result.tls_rpt.status == status
    if code:
        assert code in codes(result)


def test_tls_rpt_reads_every_destination(check: Check) -> None:
    assert check("tls-ok.test").tls_rpt.rua == ("mailto:a@tls-ok.test", "https://r.tls-ok.test/")


def test_bimi_with_enforced_dmarc_and_a_fetchable_logo_is_valid(check: Check) -> None:
    bimi = check("bimi-ok.test").bimi
    assert (bimi.status, bimi.logo_fetched) == ("valid", True)


@pytest.mark.parametrize(
    ("domain", "status", "code"),
    [
        ("bimi-none.test", "invalid", "bimi_dmarc_not_enforced"),
        ("bimi-sp.test", "invalid", "bimi_dmarc_sp_none"),
        ("bimi-pct.test", "invalid", "bimi_dmarc_pct_not_100"),
        ("bimi-http.test", "invalid", "bimi_location_not_https"),
        ("bimi-bad.test", "invalid", "bimi_record_invalid"),
        ("bimi-two.test", "invalid", "bimi_multiple_records"),
        ("bimi-nologo.test", "valid", "bimi_logo_unfetchable"),
        ("bimi-declined.test", "declined", None),
        ("good.test", "missing", None),
    ],
)
def test_bimi(check: Check, domain: str, status: str, code: str | None) -> None:
    result = check(domain)
    assert result.bimi.status == status
    if code:
        assert code in codes(result)


def test_parked_domain_expectations(check: Check, options: CheckOptions) -> None:
    ok = check_domain("parked-ok.test", options, parked=True)
    assert not {c for c in codes(ok) if c.startswith("parked_")}
    bad = check_domain("mx-cname.test", options, parked=True)
    assert {"parked_mx_not_null", "parked_spf_not_fail_all", "parked_dmarc_not_reject"} <= codes(
        bad
    )
    assert not {c for c in codes(check("mx-cname.test")) if c.startswith("parked_")}
