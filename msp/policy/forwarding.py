"""Forwarded mail and mailing lists, told apart from unknown senders by evidence (pure).

Mail a list or a forwarder re-sends keeps the domain's From but leaves from someone else's
servers: SPF then passes (if at all) for the forwarder's domain, and the domain's own DKIM
signature is still there but broken by the list's changes. Such sources are normal; they are
grouped as one "forwarded mail" line and kept out of the blocking gates.

Evidence, per source (the loader reads it from the aggregate records):

- *strong*, enough alone: the domain's own DKIM signature present but failing; an override
  reason of ``forwarded``, ``trusted_forwarder`` or ``mailing_list``, or ``arc=pass`` in a
  reason's comment (receivers that evaluated ARC say so there);
- *weak*, two needed: SPF passing for another domain; a catalogue type of a mailbox provider
  or mail gateway (where forwarding happens); reverse DNS naming a list or relay host.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FORWARD_REASONS = frozenset({"forwarded", "trusted_forwarder", "mailing_list"})
FORWARDING_SERVICE_TYPES = frozenset({"Email Provider", "Email Security"})
LIST_HOST_HINTS = ("list", "lists.", "forward", "relay", "fwd", "mailman", "lyris", "sympa")


@dataclass(frozen=True)
class RecordEvidence:
    """What one failing aggregate record says about how the mail travelled."""

    domain: str
    header_from: str
    spf_domain: str | None
    spf_result: str | None
    dkim: tuple[tuple[str, str, str], ...]  # (signing domain, selector, result)
    reasons: tuple[str, ...]
    ptr: str | None = None
    service_type: str | None = None


def _own(domain: str, other: str) -> bool:
    other = other.lower().rstrip(".")
    return other == domain or other.endswith("." + domain)


def strong_signs(rec: RecordEvidence) -> list[str]:
    signs = []
    broken = [d for d, _, result in rec.dkim if _own(rec.domain, d) and result != "pass"]
    if broken:
        signs.append(f"own DKIM signature ({broken[0]}) present but failing")
    text = " ".join(rec.reasons).lower()
    if any(reason in text for reason in FORWARD_REASONS):
        signs.append("the receiver reported it as forwarded or list mail")
    if "arc=pass" in text:
        signs.append("ARC passed")
    return signs


def weak_signs(rec: RecordEvidence) -> list[str]:
    signs = []
    if rec.spf_domain and rec.spf_result == "pass" and not _own(rec.domain, rec.spf_domain):
        signs.append(f"SPF passes for {rec.spf_domain}")
    if rec.service_type in FORWARDING_SERVICE_TYPES:
        signs.append(f"catalogue: {rec.service_type}")
    ptr = (rec.ptr or "").lower()
    if ptr and any(hint in ptr for hint in LIST_HOST_HINTS):
        signs.append(f"reverse DNS {ptr}")
    return signs


def forwarding_signs(records: Iterable[RecordEvidence]) -> tuple[str, ...]:
    """Why a source's failing mail looks forwarded, or () when it does not."""
    strong: list[str] = []
    weak: list[str] = []
    for rec in records:
        strong += [s for s in strong_signs(rec) if s not in strong]
        weak += [s for s in weak_signs(rec) if s not in weak]
    if strong:
        return tuple(strong + weak)
    return tuple(weak) if len({w.split(" ")[0] for w in weak}) >= 2 else ()


@dataclass(frozen=True)
class ForwardedMail:
    """Every forwarded source of the window as one line."""

    sources: int
    messages: int
    failing: int
    examples: tuple[str, ...]
