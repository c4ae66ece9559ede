"""RFC 2136 dynamic update signed with TSIG (BIND, Knot, PowerDNS, Windows DNS, ...).

The compare-and-swap is the update's prerequisite section: "the RRset is exactly these
records" (RFC 2136 2.4.2 compares the WHOLE RRset, so every current record is listed), or "no
RRset of this type exists" when nothing was there. The server applies the update only if the
prerequisite holds, atomically; NXRRSET/YXRRSET answers mean someone wrote in between.
Only the records that change are deleted and added, so nothing else at the name is touched.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring
import dns.update

from msp.publishing.providers import (
    DEFAULT_TTL,
    Account,
    Provider,
    ProviderConfigError,
    ProviderError,
    ProviderField,
    RRset,
    StaleRRset,
    absolute,
    require_fields,
)
from msp.publishing.providers.wire import from_rdata, to_rdata

ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1")
STALE = (dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN)

FIELDS = (
    ProviderField("server", "IP[:PORT] of the primary server that accepts updates"),
    ProviderField("tsig_name", "TSIG key name"),
    ProviderField("tsig_secret", "TSIG secret (base64)", secret=True),
    ProviderField("tsig_algorithm", "hmac-sha256 (default), hmac-sha512, ...", required=False),
)


def server_address(server: str) -> tuple[str, int]:
    """``IP``, ``IP:PORT`` or ``[IPv6]:PORT`` -> (address, port)."""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    if server.count(":") == 1:
        host, port = server.split(":")
        return host, int(port)
    return server, 53


def validate(values: dict[str, Any]) -> dict[str, Any]:
    errors = require_fields(FIELDS, values)
    cleaned = {k: str(v).strip() for k, v in values.items() if v not in (None, "")}
    cleaned.setdefault("tsig_algorithm", "hmac-sha256")
    if cleaned["tsig_algorithm"] not in ALGORITHMS:
        errors["tsig_algorithm"] = [f"one of {', '.join(ALGORITHMS)}"]
    try:
        server_address(cleaned.get("server", ""))
    except ValueError:
        errors["server"] = ["IP[:PORT]"]
    try:
        base64.b64decode(cleaned.get("tsig_secret", ""), validate=True)
    except binascii.Error:
        errors["tsig_secret"] = ["not base64"]
    if errors:
        raise ProviderConfigError(errors)
    return cleaned


def _key(account: Account) -> dns.tsig.Key:
    name = absolute(account.option("tsig_name"))
    ring = dns.tsigkeyring.from_text(
        {name: (account.option("tsig_algorithm") or "hmac-sha256", account.option("tsig_secret"))}
    )
    key: dns.tsig.Key = ring[dns.name.from_text(name)]
    return key


def _send(account: Account, message: dns.message.Message) -> dns.message.Message:
    host, port = server_address(account.option("server"))
    try:
        return dns.query.tcp(message, host, port=port, timeout=account.timeout)
    except dns.tsig.PeerError as exc:  # BADKEY / BADSIG / BADTIME
        raise ProviderError(f"the server refused the TSIG key: {type(exc).__name__}") from exc
    except (dns.exception.DNSException, OSError) as exc:
        raise ProviderError(f"{host}:{port} did not answer: {exc or type(exc).__name__}") from exc


def read(account: Account, name: str, rtype: str) -> RRset:
    """The RRset as the primary serves it (a signed query over TCP: no resolver cache)."""
    query = dns.message.make_query(absolute(name), rtype)
    query.use_tsig(_key(account))
    query.flags &= ~dns.flags.RD
    response = _send(account, query)
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise ProviderError(f"{name} {rtype}: {dns.rcode.to_text(rcode)}")
    wanted = dns.rdatatype.from_text(rtype)
    for rrset in response.answer:
        if rrset.rdtype == wanted and rrset.name == dns.name.from_text(absolute(name)):
            values = tuple(sorted(from_rdata(r) for r in rrset))
            return RRset(name, rtype, int(rrset.ttl), values)
    return RRset(name, rtype, DEFAULT_TTL, ())


def write(account: Account, current: RRset, new: RRset) -> None:
    update = dns.update.UpdateMessage(absolute(account.zone), keyring=_key(account))
    owner = dns.name.from_text(absolute(current.name))
    if current.values:
        update.present(owner, *(to_rdata(current.rtype, v) for v in current.values))
    else:
        update.absent(owner, current.rtype)
    for value in sorted(set(current.values) - set(new.values)):
        update.delete(owner, to_rdata(current.rtype, value))
    for value in sorted(set(new.values) - set(current.values)):
        update.add(owner, new.ttl, to_rdata(new.rtype, value))
    rcode = _send(account, update).rcode()
    if rcode in STALE:
        raise StaleRRset(f"{current.name} {current.rtype} changed since it was read")
    if rcode != dns.rcode.NOERROR:
        raise ProviderError(f"update of {current.name} refused: {dns.rcode.to_text(rcode)}")


def test(account: Account) -> str:
    soa = read(account, account.zone, "SOA")
    if not soa.values:
        raise ProviderError(f"{account.zone} has no SOA at this server")
    return f"{account.zone} SOA {soa.values[0]}"


PROVIDER = Provider(
    kind="rfc2136",
    label="RFC 2136 dynamic update (TSIG)",
    fields=FIELDS,
    validate=validate,
    read=read,
    write=write,
    test=test,
)
