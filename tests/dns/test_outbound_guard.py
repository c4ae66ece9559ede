"""MTA-STS and BIMI fetches go through the one outbound guard (msp.netguard): the IPv6 forms
that hide a refused IPv4 address are refused too, and the allow-list opens chosen networks."""

from __future__ import annotations

import pytest

from msp.dns.http import address_allowed


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "100.64.0.1",  # shared (CGNAT)
        "169.254.169.254",  # cloud metadata
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::7f00:1",  # IPv4-compatible
        "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
        "fe80::1",
    ],
)
def test_hidden_and_private_addresses_are_refused(address: str) -> None:
    assert not address_allowed(address, allow_private=False)


def test_public_addresses_pass_and_the_allow_list_opens_a_network() -> None:
    assert address_allowed("8.8.8.8", allow_private=False)
    assert not address_allowed("10.0.0.5", allow_private=False)
    assert address_allowed("10.0.0.5", allow_private=False, allow=("10.0.0.0/24",))


def test_allow_private_never_opens_the_metadata_service() -> None:
    assert address_allowed("10.0.0.5", allow_private=True)
    assert not address_allowed("169.254.169.254", allow_private=True)
