"""The report address a published record names: never an address literal or localhost."""

from __future__ import annotations

import pytest

from msp.policy.loader import UNSET_REPORTS_DOMAIN, reports_domain


@pytest.mark.parametrize(
    ("configured", "base_url", "expected"),
    [
        ("reports.msp.example", "http://127.0.0.1:8000", "reports.msp.example"),
        (None, "https://dmarc.msp.example", "dmarc.msp.example"),
        (None, "http://127.0.0.1:8000", UNSET_REPORTS_DOMAIN),
        (None, "http://[::1]:8000", UNSET_REPORTS_DOMAIN),
        (None, "http://localhost:8000", UNSET_REPORTS_DOMAIN),
        (None, "http://app.localhost", UNSET_REPORTS_DOMAIN),
        ("", "http://intranet:8000", UNSET_REPORTS_DOMAIN),
    ],
)
def test_reports_domain_is_a_dns_name_or_the_reserved_placeholder(
    configured: str | None, base_url: str, expected: str
) -> None:
    config = {"MSP_REPORTS_DOMAIN": configured, "MSP_BASE_URL": base_url}
    assert reports_domain(config) == expected
