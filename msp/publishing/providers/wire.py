"""Record values between our form (TXT: the joined character-strings; MX: ``0 .``) and the
zone-file form the providers speak (TXT: quoted 255-octet strings). dnspython does the quoting
and parsing, so escapes in hand-written records read back exactly."""

from __future__ import annotations

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype

TXT_STRING_MAX = 255


def to_rdata(rtype: str, value: str) -> dns.rdata.Rdata:
    """The rdata of one value (TXT content is split into 255-octet strings)."""
    if rtype == "TXT":
        data = value.encode()
        chunks = [data[i : i + TXT_STRING_MAX] for i in range(0, len(data), TXT_STRING_MAX)]
        text = " ".join('"' + _escape(chunk) + '"' for chunk in chunks or [b""])
        return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, text)
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), value)


def _escape(chunk: bytes) -> str:
    out = []
    for byte in chunk:
        if byte in (0x22, 0x5C):  # " and \
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


def from_rdata(rdata: dns.rdata.Rdata) -> str:
    """Our value of one rdata."""
    if rdata.rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    return str(rdata.to_text())


def to_zone(rtype: str, value: str) -> str:
    """The zone-file (presentation) form of one value: what PowerDNS and Route 53 take."""
    return str(to_rdata(rtype, value).to_text())


def from_zone(rtype: str, text: str) -> str:
    """Our value of a zone-file form; ValueError when it does not parse."""
    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), text)
    except dns.exception.DNSException as exc:
        raise ValueError(f"not a {rtype} value: {text!r}") from exc
    return from_rdata(rdata)


def read_zone(rtype: str, text: str) -> str:
    """Our value of a zone-file form read from a provider; text that does not parse is kept
    as it is (it then differs from every value the engine writes, which is the point)."""
    try:
        return from_zone(rtype, text)
    except ValueError:
        return text


def normalize(rtype: str, value: str) -> str:
    """One spelling per value, so values from different providers compare equal."""
    return value if rtype == "TXT" else from_rdata(to_rdata(rtype, value))
