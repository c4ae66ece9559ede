"""Cloudflare DNS through its official SDK (``base_url`` reaches a stand-in).

Cloudflare keeps one object per record, with no conditional write: the compare-and-swap
re-lists the records right before and refuses when they differ from what the publisher read,
then deletes the records that go and creates the ones that come (others keep their ids).
"""

from __future__ import annotations

from typing import Any

import cloudflare

from msp.publishing.providers import (
    DEFAULT_TTL,
    Account,
    Provider,
    ProviderError,
    ProviderField,
    RRset,
    StaleRRset,
    check_fields,
)
from msp.publishing.providers.wire import normalize, read_zone

FIELDS = (
    ProviderField("api_token", "API token with Zone.DNS edit on the zone", secret=True),
    ProviderField("zone_id", "zone id (default: found by the zone name)", required=False),
    ProviderField("base_url", "API base URL ending in /client/v4 (default: Cloudflare)", False),
)


def validate(values: dict[str, Any]) -> dict[str, Any]:
    check_fields(FIELDS, values)
    return {k: str(v).strip() for k, v in values.items() if v not in (None, "")}


def _client(account: Account) -> cloudflare.Cloudflare:
    return cloudflare.Cloudflare(
        api_token=account.option("api_token"),
        base_url=account.option("base_url") or None,
        timeout=account.timeout,
        max_retries=0,
    )


def _zone_id(client: cloudflare.Cloudflare, account: Account) -> str:
    if account.option("zone_id"):
        return account.option("zone_id")
    for zone in client.zones.list(name=account.zone.rstrip(".")):
        if zone.name == account.zone.rstrip("."):
            return str(zone.id)
    raise ProviderError(f"no zone {account.zone} in this Cloudflare account")


def _value(record: Any, rtype: str) -> str:
    content = str(record.content or "")
    if rtype == "MX":
        return normalize("MX", f"{record.priority or 0} {content.rstrip('.') or ''}.")
    return read_zone(rtype, content) if content.startswith('"') else content


def _records(client: cloudflare.Cloudflare, zone_id: str, name: str, rtype: str) -> list[Any]:
    found = client.dns.records.list(
        zone_id=zone_id,
        name={"exact": name.rstrip(".")},
        type=rtype,  # type: ignore[arg-type]
    )
    return list(found)


def _rrset(records: list[Any], name: str, rtype: str) -> RRset:
    values = tuple(sorted(_value(r, rtype) for r in records))
    ttl = int(records[0].ttl) if records and records[0].ttl else DEFAULT_TTL
    return RRset(name, rtype, ttl if ttl > 1 else DEFAULT_TTL, values)


def _call(account: Account, operation: Any) -> Any:
    try:
        client = _client(account)
        return operation(client, _zone_id(client, account))
    except cloudflare.APIStatusError as exc:
        if exc.status_code in (401, 403):
            raise ProviderError("Cloudflare refused the API token") from exc
        raise ProviderError(f"Cloudflare: {exc.status_code}") from exc
    except cloudflare.APIError as exc:
        raise ProviderError(f"Cloudflare did not answer: {type(exc).__name__}") from exc


def read(account: Account, name: str, rtype: str) -> RRset:
    result: RRset = _call(
        account, lambda client, zid: _rrset(_records(client, zid, name, rtype), name, rtype)
    )
    return result


def _create(client: cloudflare.Cloudflare, zone_id: str, new: RRset, value: str) -> None:
    if new.rtype == "MX":
        priority, _, host = value.partition(" ")
        client.dns.records.create(
            zone_id=zone_id,
            type="MX",
            name=new.name,
            content=host.rstrip(".") or ".",
            priority=float(priority),
            ttl=new.ttl,
        )
        return
    client.dns.records.create(  # type: ignore[call-overload]
        zone_id=zone_id, type=new.rtype, name=new.name, content=value, ttl=new.ttl
    )


def _swap(client: cloudflare.Cloudflare, zone_id: str, current: RRset, new: RRset) -> None:
    records = _records(client, zone_id, current.name, current.rtype)
    if _rrset(records, current.name, current.rtype).values != current.values:
        raise StaleRRset(f"{current.name} {current.rtype} changed since it was read")
    going = set(current.values) - set(new.values)
    for record in records:
        if _value(record, current.rtype) in going:
            client.dns.records.delete(dns_record_id=record.id, zone_id=zone_id)
    for value in sorted(set(new.values) - set(current.values)):
        _create(client, zone_id, new, value)


def write(account: Account, current: RRset, new: RRset) -> None:
    _call(account, lambda client, zid: _swap(client, zid, current, new))


def test(account: Account) -> str:
    zone_id: str = _call(account, lambda client, zid: zid)
    read(account, account.zone, "NS")  # proves the token may read the zone's records
    return f"{account.zone} zone {zone_id}"


PROVIDER = Provider(
    kind="cloudflare",
    label="Cloudflare",
    fields=FIELDS,
    validate=validate,
    read=read,
    write=write,
    test=test,
)
