"""SPF record syntax (RFC 7208 4.5, 4.6, 5, 6, 7, 12): record selection and the term parser.

Pure functions: text in, :class:`ParsedSpf` out. Any syntax error anywhere makes the record a
permerror (4.6.1), so the parser collects every error it sees instead of stopping at the first.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}

_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9._-]*)=(.*)$", re.S)
_MACRO = re.compile(r"%(?:\{([A-Za-z])(\d*)(r?)([.\-+,/_=]*)\}|%|_|-)", re.I)
_CIDR = re.compile(r"^(.*?)(?:/(\d+))?(?://(\d+))?$", re.S)
_TOPLABEL = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]+$|^[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]$")
_DECIMAL = re.compile(r"^(0|[1-9][0-9]*)$")
MACRO_LETTERS = frozenset("slodiphv")
EXP_ONLY_LETTERS = frozenset("crt")


@dataclass(frozen=True)
class Term:
    qualifier: str
    mechanism: str
    domain: str | None = None
    cidr4: int | None = None
    cidr6: int | None = None
    network: str | None = None
    text: str = ""

    @property
    def has_macro(self) -> bool:
        return self.domain is not None and "%" in self.domain


@dataclass(frozen=True)
class ParsedSpf:
    terms: tuple[Term, ...]
    redirect: str | None
    exp: str | None
    errors: tuple[str, ...]
    uses_ptr_macro: bool

    @property
    def all_index(self) -> int | None:
        return next((i for i, t in enumerate(self.terms) if t.mechanism == "all"), None)

    @property
    def all_term(self) -> Term | None:
        index = self.all_index
        return None if index is None else self.terms[index]


def is_spf_record(text: str) -> bool:
    """RFC 7208 4.5: exactly ``v=spf1`` then a space or the end (case-insensitive)."""
    head = text[:7].lower()
    return head == "v=spf1" or (head.startswith("v=spf1") and head[6] == " ")


@lru_cache(maxsize=4096)
def parse_spf(record: str) -> ParsedSpf:
    """Parse one record. Memoised: a pure function of public text (provider records are parsed
    once per process, not once per client domain); nothing tenant-specific is kept."""
    return _parse_spf(record)


def _parse_spf(record: str) -> ParsedSpf:
    errors: list[str] = []
    terms: list[Term] = []
    modifiers: dict[str, list[str]] = {}
    uses_ptr_macro = False
    for raw in record.split(" ")[1:]:
        if not raw:
            continue
        if re.search(r"%\{p", raw, re.I):
            uses_ptr_macro = True
        modifier = _MODIFIER.match(raw)
        name = raw.lstrip("+-~?").split(":", 1)[0].split("/", 1)[0].lower()
        if name in MECHANISMS and (modifier is None or "=" not in raw.split(":", 1)[0]):
            term, error = _parse_mechanism(raw)
            terms.append(term)
        elif modifier is not None:
            error = _check_macro_string(modifier.group(2), modifier.group(1).lower() == "exp")
            key = modifier.group(1).lower()
            modifiers.setdefault(key, []).append(modifier.group(2))
            if key in ("redirect", "exp") and not error:
                error = _check_domain_spec(modifier.group(2))
        else:
            error = f"unknown mechanism or malformed term {raw!r}"
        if error:
            errors.append(error)
    for key in ("redirect", "exp"):
        if len(modifiers.get(key, [])) > 1:
            errors.append(f"{key}= appears more than once")
    redirect = modifiers.get("redirect", [None])[0]
    exp = modifiers.get("exp", [None])[0]
    return ParsedSpf(tuple(terms), redirect, exp, tuple(errors), uses_ptr_macro)


def _parse_mechanism(raw: str) -> tuple[Term, str]:
    qualifier = raw[0] if raw[0] in QUALIFIERS else "+"
    body = raw[1:] if raw[0] in QUALIFIERS else raw
    name, sep, arg = body.partition(":")
    slash = name.find("/")
    if slash >= 0 and not sep:
        name, arg = name[:slash], name[slash:]
    name = name.lower()
    if name == "all":
        return Term(qualifier, name, text=raw), (
            "" if not sep and not arg else f"{raw!r}: all takes no argument"
        )
    if name in ("ip4", "ip6"):
        return _parse_ip(qualifier, name, arg if sep else "", raw)
    return _parse_domain_mechanism(qualifier, name, arg, bool(sep), raw)


def _parse_ip(qualifier: str, name: str, arg: str, raw: str) -> tuple[Term, str]:
    address, _, prefix = arg.partition("/")
    limit = 32 if name == "ip4" else 128
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return Term(qualifier, name, text=raw), f"{raw!r}: not an {name} address"
    if (ip.version == 4) != (name == "ip4"):
        return Term(qualifier, name, text=raw), f"{raw!r}: address family does not match {name}"
    if prefix and (not _DECIMAL.match(prefix) or int(prefix) > limit):
        return Term(qualifier, name, text=raw), f"{raw!r}: bad prefix length"
    length = int(prefix) if prefix else limit
    network = ipaddress.ip_network(f"{ip}/{length}", strict=False)
    return Term(qualifier, name, network=str(network), text=raw), ""


def _parse_domain_mechanism(
    qualifier: str, name: str, arg: str, has_arg: bool, raw: str
) -> tuple[Term, str]:
    cidr4 = cidr6 = None
    error = ""
    if name in ("a", "mx"):
        match = _CIDR.match(arg)
        assert match is not None  # the pattern matches any string
        arg, c4, c6 = match.group(1), match.group(2), match.group(3)
        error = _check_cidr(c4, 32) or _check_cidr(c6, 128)
        cidr4 = int(c4) if c4 and not error else None
        cidr6 = int(c6) if c6 and not error else None
    elif "/" in arg and name == "ptr":
        error = f"{raw!r}: ptr takes no CIDR length"
    if has_arg and not arg:
        error = error or f"{raw!r}: empty domain"
    if name in ("include", "exists") and not has_arg:
        error = error or f"{raw!r}: {name} needs a domain"
    if arg and not error:
        error = _check_macro_string(arg, False) or _check_domain_spec(arg)
    if error and not error.startswith(repr(raw)):
        error = f"{raw!r}: {error}"
    return Term(qualifier, name, arg or None, cidr4, cidr6, text=raw), error


def _check_cidr(value: str | None, limit: int) -> str:
    if value is None:
        return ""
    if not _DECIMAL.match(value) or int(value) > limit:
        return f"bad CIDR length /{value}"
    return ""


def _check_macro_string(text: str, in_exp: bool) -> str:
    rest = _MACRO.sub("", text)
    if "%" in rest:
        return f"bad macro in {text!r}"
    for match in _MACRO.finditer(text):
        letter, digits = match.group(1), match.group(2)
        if letter is None:
            continue
        letter = letter.lower()
        if letter not in MACRO_LETTERS and not (in_exp and letter in EXP_ONLY_LETTERS):
            return f"macro letter {letter!r} not allowed in {text!r}"
        if digits and int(digits) == 0:
            return f"macro digit count 0 in {text!r}"
    return ""


def _check_domain_spec(spec: str) -> str:
    if not spec:
        return "empty domain"
    if spec.endswith("}") or _MACRO.search(spec.rsplit(".", 1)[-1] if "." in spec else spec):
        return ""
    labels = spec.rstrip(".").split(".")
    if len(labels) < 2:
        return f"{spec!r} is not a domain with a top label"
    if any(not label or len(label) > 63 for label in labels if "%" not in label):
        return f"{spec!r} has an empty or over-long label"
    if not _TOPLABEL.match(labels[-1]):
        return f"{spec!r} has an invalid top label"
    return ""
