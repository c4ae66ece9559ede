"""DKIM key records (RFC 6376 3.6.1, RFC 8301, RFC 8463) at ``<selector>._domainkey.<domain>``.

Selectors come from three places: those the tenant declares, those learnt from reports (given by
the caller), and, only when neither gives any, a short list of common ones probed. A probed
selector that does not exist is simply not reported; a declared or reported one is.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from msp.dns.findings import Finding, finding
from msp.dns.resolver import Answer, Resolver, Status

COMMON_SELECTORS = ("default", "google", "selector1", "selector2", "k1", "s1", "dkim", "mail")
_TAG_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class DkimKey:
    selector: str
    source: str  # declared | reported | probed
    status: str  # valid | invalid | missing | unknown
    record: str | None = None
    valid: bool | None = None
    key_type: str | None = None
    key_bits: int | None = None
    revoked: bool = False
    testing: bool = False
    hashes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "status": self.status,
            "record": self.record,
            "valid": self.valid,
            "key_type": self.key_type,
            "key_bits": self.key_bits,
            "revoked": self.revoked,
            "testing": self.testing,
            "hashes": list(self.hashes),
        }


class DkimSyntaxError(ValueError):
    """The key record is not a valid tag list or p= is not a key."""


def parse_tags(record: str) -> dict[str, str]:
    """RFC 6376 3.2 tag-list: case-sensitive names; a duplicate invalidates the list."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not _TAG_NAME.match(name):
            raise DkimSyntaxError(f"malformed tag {part.strip()!r}")
        if name in tags:
            raise DkimSyntaxError(f"duplicate tag {name}")
        tags[name] = re.sub(r"\s+", "", value)
    return tags


def key_size(key_type: str, data: bytes) -> int:
    if key_type == "ed25519":
        if len(data) != 32:
            raise DkimSyntaxError("ed25519 p= must be the raw 32-octet key")
        ed25519.Ed25519PublicKey.from_public_bytes(data)
        return 256
    try:
        key = load_der_public_key(data)
    except (ValueError, TypeError) as exc:
        raise DkimSyntaxError("p= is not an RSA public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise DkimSyntaxError("p= is not an RSA public key")
    return key.key_size


def assess(selector: str, source: str, record: str) -> tuple[DkimKey, list[Finding]]:
    """Check one key record's text."""
    where = f"{selector}: "
    try:
        tags = parse_tags(record)
        if "v" in tags and (tags["v"] != "DKIM1" or next(iter(tags)) != "v"):
            raise DkimSyntaxError("v= present but not DKIM1 first")
        if "p" not in tags:
            raise DkimSyntaxError("no p= tag")
    except DkimSyntaxError as exc:
        return (
            DkimKey(selector, source, "invalid", record, False),
            [finding("dkim_key_syntax_error", where + str(exc))],
        )
    key_type = tags.get("k", "rsa").lower()
    hashes = tuple(h.lower() for h in tags.get("h", "").split(":") if h)
    testing = "y" in tags.get("t", "").lower().split(":")
    base = DkimKey(
        selector, source, "invalid", record, False, key_type, None, False, testing, hashes
    )
    findings = [finding("dkim_testing_mode", selector)] if testing else []
    if key_type not in ("rsa", "ed25519"):
        return base, [*findings, finding("dkim_key_type_unknown", where + key_type)]
    if not tags["p"]:
        return (
            DkimKey(
                selector, source, "invalid", record, False, key_type, None, True, testing, hashes
            ),
            [*findings, finding("dkim_key_revoked", selector)],
        )
    return _assess_key(base, tags, findings)


def _assess_key(
    base: DkimKey, tags: dict[str, str], findings: list[Finding]
) -> tuple[DkimKey, list[Finding]]:
    selector = base.selector
    try:
        bits = key_size(base.key_type or "rsa", base64.b64decode(tags["p"], validate=True))
    except (binascii.Error, DkimSyntaxError, ValueError) as exc:
        return base, [*findings, finding("dkim_key_syntax_error", f"{selector}: {exc}")]
    usable = True
    if base.key_type == "rsa" and bits < 1024:
        findings.append(finding("dkim_key_too_short", f"{selector}: {bits} bits"))
        usable = False
    elif base.key_type == "rsa" and bits < 2048:
        findings.append(finding("dkim_key_weak", f"{selector}: {bits} bits"))
    if base.hashes and set(base.hashes) <= {"sha1"}:
        findings.append(finding("dkim_key_sha1_only", selector))
        usable = False
    services = tags.get("s", "*").lower().split(":")
    if "*" not in services and "email" not in services:
        findings.append(finding("dkim_service_not_email", f"{selector}: s={tags['s']}"))
        usable = False
    status = "valid" if usable else "invalid"
    key = DkimKey(
        selector,
        base.source,
        status,
        base.record,
        usable,
        base.key_type,
        bits,
        False,
        base.testing,
        base.hashes,
    )
    return key, findings


def _from_answer(
    selector: str, source: str, answer: Answer
) -> tuple[DkimKey | None, list[Finding]]:
    if answer.failed:
        return (
            DkimKey(selector, source, "unknown"),
            [finding("dns_lookup_failed", f"{selector}: {answer.error}")],
        )
    records = [r for r in answer.records if "p=" in r or r.startswith("v=DKIM1")]
    if not records:
        if source == "probed":
            return None, []
        return DkimKey(selector, source, "missing"), [finding("dkim_selector_missing", selector)]
    key, findings = assess(selector, source, records[0])
    if len(records) > 1:
        findings.append(finding("dkim_multiple_records", selector))
    return key, findings


def plan_selectors(
    declared: tuple[str, ...], reported: tuple[str, ...], probe: bool
) -> dict[str, str]:
    """selector -> source, in a stable order; probing only when nothing is known."""
    plan: dict[str, str] = {}
    for source, names in (("declared", declared), ("reported", reported)):
        for name in names:
            plan.setdefault(name.strip().lower(), source)
    if not plan and probe:
        plan = dict.fromkeys(COMMON_SELECTORS, "probed")
    return plan


async def check_dkim(
    resolver: Resolver,
    domain: str,
    declared: tuple[str, ...] = (),
    reported: tuple[str, ...] = (),
    probe: bool = True,
) -> tuple[dict[str, DkimKey], list[Finding]]:
    plan = plan_selectors(declared, reported, probe)
    if plan and set(plan.values()) == {"probed"}:
        # RFC 8020: NXDOMAIN at _domainkey means no selector exists below it; skip the probes
        parent = await resolver.lookup(f"_domainkey.{domain}", "TXT")
        if parent.status is Status.NXDOMAIN:
            return {}, [finding("dkim_none_found", "nothing under _domainkey")]
    answers = await asyncio.gather(
        *(resolver.lookup(f"{s}._domainkey.{domain}", "TXT") for s in plan)
    )
    keys: dict[str, DkimKey] = {}
    findings: list[Finding] = []
    for (selector, source), answer in zip(plan.items(), answers, strict=True):
        key, found = _from_answer(selector, source, answer)
        findings.extend(found)
        if key is not None:
            keys[selector] = key
    if not any(k.status in ("valid", "invalid", "unknown") for k in keys.values()):
        findings.append(finding("dkim_none_found", ", ".join(plan) or "no selectors"))
    return keys, findings
