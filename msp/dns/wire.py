"""A small DNS wire codec for the resolver's hot path (RFC 1035 4.1, RFC 6891 OPT).

dnspython's general message classes cost most of the CPU of a fleet run; the checker only needs
to build one-question queries and read A, AAAA, TXT, SPF, MX and CNAME answers plus the SOA of
the authority section. Anything this codec does not understand raises :class:`WireError`, and the
resolver then falls back to dnspython for that response.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

TYPES = {
    "A": 1,
    "NS": 2,
    "CNAME": 5,
    "SOA": 6,
    "PTR": 12,
    "MX": 15,
    "TXT": 16,
    "AAAA": 28,
    "SPF": 99,
}
CNAME, SOA = 5, 6
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
EDNS_PAYLOAD = 1232
_OPT = b"\x00" + struct.pack("!HHIH", 41, EDNS_PAYLOAD, 0, 0)
FLAG_TC = 0x0200


class WireError(ValueError):
    """A message this codec does not handle (the caller falls back to dnspython)."""


@dataclass(frozen=True)
class Record:
    name: str
    rdtype: int
    data: str


@dataclass(frozen=True)
class Response:
    id: int
    flags: int
    rcode: int
    question: tuple[str, int]
    answer: tuple[Record, ...]
    soa_owners: tuple[str, ...]
    size: int = 0

    @property
    def truncated(self) -> bool:
        return bool(self.flags & FLAG_TC)


def encode_query(qid: int, name: str, rdtype: str) -> bytes:
    """A recursion-desired query with EDNS(0); ``name`` is a lower-case A-label name."""
    labels = [label.encode("ascii") for label in name.rstrip(".").split(".") if label]
    if any(len(label) > 63 for label in labels):
        raise WireError(f"label too long in {name!r}")
    qname = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
    if len(qname) > 255:
        raise WireError(f"name too long: {name!r}")
    return (
        _HEADER.pack(qid, 0x0100, 1, 0, 0, 1) + qname + struct.pack("!HH", TYPES[rdtype], 1) + _OPT
    )


def _read_name(wire: bytes, offset: int) -> tuple[str, int]:
    labels: list[str] = []
    end = -1
    for _ in range(128):
        length = wire[offset]
        if length == 0:
            offset += 1
            break
        if length & 0xC0 == 0xC0:
            if end < 0:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | wire[offset + 1]
            continue
        if length & 0xC0:
            raise WireError("unknown label type")
        labels.append(wire[offset + 1 : offset + 1 + length].decode("ascii", "replace").lower())
        offset += 1 + length
    else:
        raise WireError("compression loop")
    return ".".join(labels), (end if end >= 0 else offset)


def _rdata(wire: bytes, rdtype: int, start: int, length: int) -> str:
    chunk = wire[start : start + length]
    if rdtype == 1:
        return str(ipaddress.IPv4Address(chunk))
    if rdtype == 28:
        return str(ipaddress.IPv6Address(chunk))
    if rdtype in (16, 99):
        parts, i = [], 0
        while i < length:
            size = chunk[i]
            parts.append(chunk[i + 1 : i + 1 + size])
            i += 1 + size
        return b"".join(parts).decode("utf-8", "replace")
    if rdtype == 15:
        return f"{struct.unpack('!H', chunk[:2])[0]} {_read_name(wire, start + 2)[0]}."
    if rdtype in (2, 5, 12):
        return _read_name(wire, start)[0] + "."
    return ""


def decode_response(wire: bytes) -> Response:
    try:
        return _decode(wire)
    except (IndexError, struct.error, UnicodeError, ValueError) as exc:
        raise WireError(str(exc)) from exc


def _decode(wire: bytes) -> Response:
    qid, flags, qdcount, ancount, nscount, _ = _HEADER.unpack_from(wire)
    if qdcount != 1:
        raise WireError("not one question")
    qname, offset = _read_name(wire, 12)
    qtype = struct.unpack_from("!H", wire, offset)[0]
    offset += 4
    answer: list[Record] = []
    soa_owners: list[str] = []
    for index in range(ancount + nscount):
        name, offset = _read_name(wire, offset)
        rdtype, _cls, _ttl, length = _RR.unpack_from(wire, offset)
        offset += 10
        if offset + length > len(wire):
            raise WireError("truncated record")
        if index < ancount:
            answer.append(Record(name, rdtype, _rdata(wire, rdtype, offset, length)))
        elif rdtype == SOA:
            soa_owners.append(name)
        offset += length
    return Response(
        qid, flags, flags & 0x000F, (qname, qtype), tuple(answer), tuple(soa_owners), len(wire)
    )
