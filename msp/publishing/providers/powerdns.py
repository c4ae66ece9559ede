"""PowerDNS Authoritative through its HTTP API (httpx).

The API replaces a whole RRset (``changetype: REPLACE``) and has no conditional write, so the
compare-and-swap reads the RRset right before the PATCH and refuses when it differs from what
the publisher read (the window is the round trip between the two requests).
"""

from __future__ import annotations

from typing import Any

import httpx

from msp.publishing.providers import (
    DEFAULT_TTL,
    Account,
    Provider,
    ProviderError,
    ProviderField,
    RRset,
    StaleRRset,
    absolute,
    check_fields,
)
from msp.publishing.providers.wire import read_zone, to_zone

FIELDS = (
    ProviderField("api_url", "http(s)://host:port of the PowerDNS webserver"),
    ProviderField("api_key", "X-API-Key", secret=True),
    ProviderField("server_id", "server id in the API path (default localhost)", required=False),
)


def validate(values: dict[str, Any]) -> dict[str, Any]:
    check_fields(FIELDS, values)
    cleaned = {k: str(v).strip() for k, v in values.items() if v not in (None, "")}
    cleaned["api_url"] = cleaned["api_url"].rstrip("/")
    cleaned.setdefault("server_id", "localhost")
    return cleaned


def _client(account: Account) -> httpx.Client:
    base = f"{account.option('api_url')}/api/v1/servers/{account.option('server_id')}"
    return httpx.Client(
        base_url=base, headers={"X-API-Key": account.option("api_key")}, timeout=account.timeout
    )


def _request(account: Account, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        with _client(account) as client:
            response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise ProviderError(f"PowerDNS API did not answer: {exc or type(exc).__name__}") from exc
    if response.status_code in (401, 403):
        raise ProviderError("PowerDNS API refused the key")
    if response.status_code >= 400:
        raise ProviderError(f"PowerDNS API: {response.status_code} {response.text[:200]}")
    return response


def read(account: Account, name: str, rtype: str) -> RRset:
    zone = absolute(account.zone)
    response = _request(
        account, "GET", f"/zones/{zone}", params={"rrset_name": absolute(name), "rrset_type": rtype}
    )
    for rrset in response.json().get("rrsets", []):
        if rrset["name"] == absolute(name) and rrset["type"] == rtype:
            values = tuple(
                sorted(
                    read_zone(rtype, r["content"]) for r in rrset["records"] if not r["disabled"]
                )
            )
            return RRset(name, rtype, int(rrset["ttl"]), values)
    return RRset(name, rtype, DEFAULT_TTL, ())


def write(account: Account, current: RRset, new: RRset) -> None:
    if read(account, current.name, current.rtype).values != current.values:
        raise StaleRRset(f"{current.name} {current.rtype} changed since it was read")
    rrset: dict[str, Any] = {"name": absolute(new.name), "type": new.rtype}
    if new.values:
        rrset |= {
            "changetype": "REPLACE",
            "ttl": new.ttl,
            "records": [{"content": to_zone(new.rtype, v), "disabled": False} for v in new.values],
        }
    else:
        rrset["changetype"] = "DELETE"
    _request(account, "PATCH", f"/zones/{absolute(account.zone)}", json={"rrsets": [rrset]})


def test(account: Account) -> str:
    soa = read(account, account.zone, "SOA")
    if not soa.values:
        raise ProviderError(f"{account.zone} has no SOA at this server")
    return f"{account.zone} SOA {soa.values[0]}"


PROVIDER = Provider(
    kind="powerdns",
    label="PowerDNS Authoritative HTTP API",
    fields=FIELDS,
    validate=validate,
    read=read,
    write=write,
    test=test,
)
