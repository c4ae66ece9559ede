"""DMARC record syntax (RFC 9989 4.7/4.8, RFC 7489 6.3): classify a TXT string, parse its tags.

Pure functions. A TXT string at ``_dmarc`` is either a DMARC record (``v=DMARC1`` first), a
broken attempt at one (version not first, wrong case, missing separator) or unrelated text,
which is discarded without complaint (RFC 9989 4.10 step 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from msp.dns.findings import Finding, finding

POLICIES = frozenset({"none", "quarantine", "reject"})
_VALUES: dict[str, re.Pattern[str]] = {
    "p": re.compile(r"^(none|quarantine|reject)$", re.I),
    "sp": re.compile(r"^(none|quarantine|reject)$", re.I),
    "np": re.compile(r"^(none|quarantine|reject)$", re.I),
    "adkim": re.compile(r"^[rs]$", re.I),
    "aspf": re.compile(r"^[rs]$", re.I),
    "fo": re.compile(r"^[01ds](\s*:\s*[01ds])*$", re.I),
    "psd": re.compile(r"^[ynu]$", re.I),
    "t": re.compile(r"^[yn]$", re.I),
    "pct": re.compile(r"^(100|[1-9]?[0-9])$"),
    "rf": re.compile(r"^afrf(\s*:\s*[a-z0-9-]+)*$", re.I),
    "ri": re.compile(r"^[0-9]{1,10}$"),
}
REMOVED_TAGS = ("pct", "rf", "ri")
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):([^\s!,]+)(![0-9]+[kmgt]?)?$", re.I)


class Kind(StrEnum):
    DMARC = "dmarc"
    BROKEN = "broken"
    UNRELATED = "unrelated"


@dataclass(frozen=True)
class Classified:
    kind: Kind
    finding: Finding | None = None


@dataclass(frozen=True)
class ReportUri:
    uri: str
    scheme: str
    host: str | None
    valid: bool
    size_suffix: bool


@dataclass(frozen=True)
class ParsedDmarc:
    tags: dict[str, str]
    invalid: frozenset[str]
    findings: tuple[Finding, ...]
    rua: tuple[ReportUri, ...]
    ruf: tuple[ReportUri, ...]

    def has_valid_rua(self) -> bool:
        return any(u.valid for u in self.rua)


def split_tags(record: str) -> list[tuple[str, str]]:
    pairs = []
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if part.strip():
            pairs.append((name.strip(), value.strip() if sep else "\0"))
    return pairs


def classify(record: str) -> Classified:
    pairs = split_tags(record)
    if not pairs:
        return Classified(Kind.UNRELATED)
    name, value = pairs[0]
    if name.lower() == "v":
        if value == "DMARC1":
            return Classified(Kind.DMARC)
        if value.upper() == "DMARC1":
            return Classified(Kind.BROKEN, finding("dmarc_version_invalid", record))
        if re.match(r"^DMARC1\s", value, re.I):
            return Classified(Kind.BROKEN, finding("dmarc_syntax_error", f"missing ';': {record}"))
        if value.upper().startswith("DMARC"):
            return Classified(Kind.BROKEN, finding("dmarc_version_invalid", record))
        return Classified(Kind.UNRELATED)
    if any(n.lower() == "v" and v.upper() == "DMARC1" for n, v in pairs[1:]):
        return Classified(Kind.BROKEN, finding("dmarc_version_not_first", record))
    return Classified(Kind.UNRELATED)


def parse_dmarc(record: str) -> ParsedDmarc:
    """Tags of a record ``classify`` called DMARC; invalid values are reported and defaulted."""
    tags, invalid, found = _read_tags(record)
    found.extend(_tag_findings(tags, invalid))
    rua = tuple(parse_uri(u) for u in _uri_list(tags.get("rua", "")))
    ruf = tuple(parse_uri(u) for u in _uri_list(tags.get("ruf", "")))
    found.extend(_uri_findings(rua, ruf))
    return ParsedDmarc(tags, frozenset(invalid), tuple(found), rua, ruf)


def _read_tags(record: str) -> tuple[dict[str, str], set[str], list[Finding]]:
    """The record's tags (first of each, lower-cased names), those with an invalid value, and
    the syntax findings."""
    tags: dict[str, str] = {}
    invalid: set[str] = set()
    found: list[Finding] = []
    nonstandard = []
    for name, value in split_tags(record):
        key = name.lower()
        if name != key:
            nonstandard.append(name)
        if value == "\0" or not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", name):
            found.append(finding("dmarc_syntax_error", f"malformed tag {name!r}"))
            continue
        if key in tags:
            found.append(finding("dmarc_syntax_error", f"duplicate tag {key}"))
            continue
        tags[key] = value
        pattern = _VALUES.get(key)
        if pattern is not None and not pattern.match(value):
            invalid.add(key)
            found.append(finding("dmarc_invalid_tag_value", f"{key}={value}"))
    if nonstandard:
        found.append(finding("dmarc_tag_case_nonstandard", ", ".join(nonstandard)))
    return tags, invalid, found


def _uri_findings(rua: tuple[ReportUri, ...], ruf: tuple[ReportUri, ...]) -> list[Finding]:
    found = []
    for uri in (*rua, *ruf):
        if not uri.valid:
            found.append(finding("dmarc_rua_invalid_uri", uri.uri))
        if uri.size_suffix:
            found.append(finding("dmarc_uri_size_limit_obsolete", uri.uri))
    if not any(u.valid for u in rua):
        found.append(finding("dmarc_rua_missing"))
    return found


def _tag_findings(tags: dict[str, str], invalid: set[str]) -> list[Finding]:
    found = []
    if "p" not in tags:
        found.append(finding("dmarc_p_missing"))
    for key in ("p", "sp"):
        if tags.get(key, "").lower() == "none" and key not in invalid:
            found.append(finding("dmarc_policy_none", f"{key}=none"))
    removed = [k for k in REMOVED_TAGS if k in tags]
    if removed:
        found.append(finding("dmarc_deprecated_tag", ", ".join(removed)))
    if "pct" in tags and "pct" not in invalid and int(tags["pct"]) != 100:
        found.append(finding("dmarc_pct_not_100", f"pct={tags['pct']}"))
    if tags.get("t", "").lower() == "y":
        found.append(finding("dmarc_testing_mode"))
    return found


def _uri_list(value: str) -> list[str]:
    return [u.strip() for u in value.split(",") if u.strip()]


def parse_uri(text: str) -> ReportUri:
    match = _URI.match(text)
    if match is None:
        return ReportUri(text, "", None, False, False)
    scheme, rest, size = match.group(1).lower(), match.group(2), match.group(3)
    host = None
    if scheme == "mailto":
        local, at, domain = rest.partition("@")
        if not at or not local or "." not in domain:
            return ReportUri(text, scheme, None, False, bool(size))
        host = domain.lower().rstrip(".")
    return ReportUri(text, scheme, host, True, bool(size))


def policy_value(tags: dict[str, str], key: str, invalid: frozenset[str]) -> str | None:
    """The lower-cased policy of ``key`` if present and valid."""
    value = tags.get(key)
    if value is None or key in invalid:
        return None
    return value.lower()
