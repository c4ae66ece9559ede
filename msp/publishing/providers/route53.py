"""Amazon Route 53 through boto3 (``endpoint_url`` reaches a stand-in or a compatible API).

The compare-and-swap re-reads the RRset right before the change and refuses when it differs
from what the publisher read; a CREATE (nothing was there) and a DELETE are also checked by
Route 53 itself.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

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
    ProviderField("access_key_id", "AWS access key id"),
    ProviderField("secret_access_key", "AWS secret access key", secret=True),
    ProviderField("hosted_zone_id", "hosted zone id (default: found by the zone name)", False),
    ProviderField("endpoint_url", "API endpoint (default: AWS)", required=False),
    ProviderField("region", "signing region (default us-east-1)", required=False),
)
STALE_CODES = frozenset({"InvalidChangeBatch", "InvalidInput"})


def validate(values: dict[str, Any]) -> dict[str, Any]:
    check_fields(FIELDS, values)
    cleaned = {k: str(v).strip() for k, v in values.items() if v not in (None, "")}
    cleaned.setdefault("region", "us-east-1")
    return cleaned


def _client(account: Account) -> Any:
    return boto3.client(
        "route53",
        endpoint_url=account.option("endpoint_url") or None,
        region_name=account.option("region") or "us-east-1",
        aws_access_key_id=account.option("access_key_id"),
        aws_secret_access_key=account.option("secret_access_key"),
        config=Config(
            connect_timeout=account.timeout,
            read_timeout=account.timeout,
            retries={"max_attempts": 1},
        ),
    )


def _zone_id(client: Any, account: Account) -> str:
    if account.option("hosted_zone_id"):
        return account.option("hosted_zone_id")
    zones = client.list_hosted_zones_by_name(DNSName=absolute(account.zone), MaxItems="1")
    for zone in zones["HostedZones"]:
        if zone["Name"] == absolute(account.zone):
            return str(zone["Id"])
    raise ProviderError(f"no hosted zone {account.zone} in this account")


def _read(client: Any, zone_id: str, name: str, rtype: str) -> RRset:
    page = client.list_resource_record_sets(
        HostedZoneId=zone_id, StartRecordName=absolute(name), StartRecordType=rtype, MaxItems="1"
    )
    for rrset in page["ResourceRecordSets"]:
        if rrset["Name"] == absolute(name) and rrset["Type"] == rtype:
            records = rrset.get("ResourceRecords", [])
            values = tuple(sorted(read_zone(rtype, r["Value"]) for r in records))
            return RRset(name, rtype, int(rrset.get("TTL", DEFAULT_TTL)), values)
    return RRset(name, rtype, DEFAULT_TTL, ())


def _rrset(rrset: RRset) -> dict[str, Any]:
    return {
        "Name": absolute(rrset.name),
        "Type": rrset.rtype,
        "TTL": rrset.ttl,
        "ResourceRecords": [{"Value": to_zone(rrset.rtype, v)} for v in rrset.values],
    }


def _call(account: Account, operation: Any) -> Any:
    try:
        client = _client(account)
        return operation(client, _zone_id(client, account))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in STALE_CODES:
            raise StaleRRset(f"Route 53 refused the change: {code}") from exc
        raise ProviderError(f"Route 53: {code or exc}") from exc
    except BotoCoreError as exc:
        raise ProviderError(f"Route 53 did not answer: {exc}") from exc


def read(account: Account, name: str, rtype: str) -> RRset:
    result: RRset = _call(account, lambda client, zid: _read(client, zid, name, rtype))
    return result


def _swap(client: Any, zone_id: str, current: RRset, new: RRset) -> None:
    if _read(client, zone_id, current.name, current.rtype).values != current.values:
        raise StaleRRset(f"{current.name} {current.rtype} changed since it was read")
    # One change per batch: CREATE fails if the RRset exists and DELETE unless it matches
    # exactly (Route 53's own compare); a replacement is an UPSERT after the re-read above
    # (moto cannot parse a DELETE + CREATE batch, which would close that last window).
    if not new.values and not current.values:
        return
    if not new.values:
        change = {"Action": "DELETE", "ResourceRecordSet": _rrset(current)}
    else:
        action = "UPSERT" if current.values else "CREATE"
        change = {"Action": action, "ResourceRecordSet": _rrset(new)}
    client.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [change]})


def write(account: Account, current: RRset, new: RRset) -> None:
    _call(account, lambda client, zid: _swap(client, zid, current, new))


def test(account: Account) -> str:
    ns = read(account, account.zone, "NS")
    if not ns.values:
        raise ProviderError(f"{account.zone} has no NS records in this hosted zone")
    return f"{account.zone} NS {', '.join(ns.values)}"


PROVIDER = Provider(
    kind="route53",
    label="Amazon Route 53",
    fields=FIELDS,
    validate=validate,
    read=read,
    write=write,
    test=test,
)
