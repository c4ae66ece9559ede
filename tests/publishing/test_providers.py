"""Each provider against its real server or stand-in: read, compare-and-swap (other records at
the name survive, a stale read is refused), MX, the ``test`` action and a refused key."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import boto3
import pytest

from msp.publishing.providers import (
    Account,
    ProviderConfigError,
    ProviderError,
    RRset,
    StaleRRset,
    get_provider,
)
from tests.publishing.servers import CloudflareStandIn, PowerDns, Route53Server, TsigKnot, zone

NONE = "v=DMARC1; p=none"
REJECT = "v=DMARC1; p=reject; sp=reject"
OTHER = "other-note"
LONG = "v=DMARC1; p=none; rua=" + ",".join(f"mailto:r{i}@reports.example.test" for i in range(12))


@dataclass
class World:
    kind: str
    options: dict[str, str]
    zone: str
    bad_key: dict[str, str]

    def account(self, options: dict[str, str] | None = None) -> Account:
        plain, secret = get_provider(self.kind).split(options or self.options)
        return Account(plain, secret, self.zone, 3.0)


@pytest.fixture(scope="module")
def pdns() -> Iterator[PowerDns]:
    server = PowerDns().start()
    try:
        yield server
    finally:
        server.stop()


def _knot(origin: str) -> Iterator[World]:
    server = TsigKnot({origin: zone(origin, [f'_dmarc TXT "{NONE}"', f'_dmarc TXT "{OTHER}"'])})
    server.start()
    try:
        bad = {**server.options(), "tsig_secret": "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE="}
        yield World("rfc2136", server.options(), origin, bad)
    finally:
        server.stop()


def _pdns(server: PowerDns, origin: str) -> World:
    server.add_zone(origin, [(f"_dmarc.{origin}", "TXT", [f'"{NONE}"', f'"{OTHER}"'])])
    return World("powerdns", server.options(), origin, {**server.options(), "api_key": "nope"})


def _route53(server: Route53Server, origin: str) -> World:
    client = boto3.client(
        "route53",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    zone_id = client.create_hosted_zone(Name=f"{origin}.", CallerReference=str(uuid.uuid4()))
    records = [{"Value": f'"{NONE}"'}, {"Value": f'"{OTHER}"'}]
    rrset = {"Name": f"_dmarc.{origin}.", "Type": "TXT", "TTL": 300, "ResourceRecords": records}
    client.change_resource_record_sets(
        HostedZoneId=zone_id["HostedZone"]["Id"],
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrset}]},
    )
    # moto checks no credentials, so the failure here is an endpoint that refuses connections
    closed = {**server.options(), "endpoint_url": "http://127.0.0.1:9"}
    return World("route53", server.options(), origin, closed)


def _cloudflare(server: CloudflareStandIn, origin: str) -> World:
    zone_id = server.add_zone(origin)
    server.add_record(zone_id, f"_dmarc.{origin}", "TXT", NONE)
    server.add_record(zone_id, f"_dmarc.{origin}", "TXT", OTHER)
    return World("cloudflare", server.options(), origin, {**server.options(), "api_token": "x"})


@pytest.fixture(params=["rfc2136", "powerdns", "route53", "cloudflare"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    origin = f"{request.param}-{uuid.uuid4().hex[:8]}.test"
    if request.param == "rfc2136":
        yield from _knot(origin)
        return
    makers: dict[str, Callable[[], World]] = {
        "powerdns": lambda: _pdns(request.getfixturevalue("pdns"), origin),
        "route53": lambda: _route53(request.getfixturevalue("moto"), origin),
        "cloudflare": lambda: _cloudflare(request.getfixturevalue("cloudflare"), origin),
    }
    yield makers[request.param]()


def test_a_swap_replaces_only_the_engines_record_and_keeps_the_others(world: World) -> None:
    provider, account = get_provider(world.kind), world.account()
    name = f"_dmarc.{world.zone}"
    current = provider.read(account, name, "TXT")
    assert current.values == tuple(sorted((OTHER, NONE)))
    provider.write(account, current, RRset(name, "TXT", 300, (OTHER, REJECT)))
    assert provider.read(account, name, "TXT").values == (OTHER, REJECT)


def test_a_stale_read_is_refused_and_nothing_changes(world: World) -> None:
    provider, account = get_provider(world.kind), world.account()
    name = f"_dmarc.{world.zone}"
    stale = provider.read(account, name, "TXT")
    provider.write(account, stale, RRset(name, "TXT", 300, (OTHER, REJECT)))
    with pytest.raises(StaleRRset):
        provider.write(account, stale, RRset(name, "TXT", 300, (OTHER, NONE)))
    assert provider.read(account, name, "TXT").values == (OTHER, REJECT)


def test_long_txt_values_and_a_null_mx_round_trip(world: World) -> None:
    provider, account = get_provider(world.kind), world.account()
    name = f"_dmarc.{world.zone}"
    current = provider.read(account, name, "TXT")
    provider.write(account, current, RRset(name, "TXT", 300, (LONG, OTHER)))
    assert len(LONG) > 255
    assert provider.read(account, name, "TXT").values == tuple(sorted((LONG, OTHER)))
    mx = provider.read(account, world.zone, "MX")
    assert mx.values == ()
    provider.write(account, mx, RRset(world.zone, "MX", 300, ("0 .",)))
    assert provider.read(account, world.zone, "MX").values == ("0 .",)


def test_the_test_action_reads_the_zone_and_a_refused_key_fails(world: World) -> None:
    provider = get_provider(world.kind)
    assert world.zone in provider.test(world.account())
    with pytest.raises(ProviderError):
        provider.test(world.account(world.bad_key))


def test_options_are_validated_and_secrets_split_out(world: World) -> None:
    provider = get_provider(world.kind)
    plain, secret = provider.split(world.options)
    assert set(secret) == provider.secret_fields and not set(plain) & provider.secret_fields
    with pytest.raises(ProviderConfigError) as caught:
        provider.validate({**world.options, "bogus": "1"})
    assert caught.value.errors["bogus"] == ["unknown option"]
