"""What-if: replay daily aggregate rows under a proposed DMARC record.

For each row that fails DMARC under the proposed alignment modes, the record's policy for the
row's header-from (``p`` for the domain, ``sp`` for its subdomains) is applied as two kinds of
receivers would: RFC 9989 (``t=y`` or ``pct=0`` means one level below, ``pct`` otherwise
ignored) and RFC 7489 (``t`` ignored, ``pct`` applies the policy to that share of the mail and
the next lower policy to the rest). Results are per sender, split approved / unknown / other.

``np`` is validated but not applied: aggregate rows do not say whether a subdomain exists, so
every subdomain is treated as existing (``sp``), the stricter reading for legitimate mail.

Strict alignment (``adkim=s`` / ``aspf=s``) needs the authenticated domains; rows that lack
them are counted as failing under strict mode (the safe guess) and flagged as estimated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from msp.policy.facts import SenderStatus
from msp.policy.records import parse_tags
from msp.policy.stages import Policy

LOWER = {Policy.REJECT: Policy.QUARANTINE, Policy.QUARANTINE: Policy.NONE, Policy.NONE: Policy.NONE}


class SimulationInputError(ValueError):
    """The proposed record cannot be simulated (bad tag value)."""


@dataclass(frozen=True)
class DailyRow:
    """One day's aggregate for one sender and header-from (report ingestion's daily rows)."""

    day: date
    sender_key: str
    sender_status: SenderStatus
    header_from: str
    disposition: str
    spf_aligned: bool
    dkim_aligned: bool
    count: int
    sender_name: str = ""
    spf_domain: str | None = None
    dkim_domains: tuple[str, ...] | None = None
    forwarded: bool = False  # an unclassified source whose mail looks forwarded


@dataclass(frozen=True)
class ProposedPolicy:
    """The tags of a proposed record that decide what receivers do."""

    p: Policy
    sp: Policy
    adkim: str = "r"
    aspf: str = "r"
    testing: bool = False
    pct: int = 100


@dataclass(frozen=True)
class Outcome:
    """Messages one kind of receiver would quarantine or reject."""

    quarantined: int = 0
    rejected: int = 0

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(self.quarantined + other.quarantined, self.rejected + other.rejected)

    @property
    def affected(self) -> int:
        return self.quarantined + self.rejected


FORWARDED_KEY = "forwarded"


@dataclass(frozen=True)
class SenderImpact:
    sender_key: str
    name: str
    status: SenderStatus
    messages: int
    failing: int
    rfc9989: Outcome
    rfc7489: Outcome
    sources: int = 1  # the forwarded line groups several sources

    @property
    def worst(self) -> Outcome:
        return max(self.rfc9989, self.rfc7489, key=lambda o: (o.affected, o.rejected))


@dataclass(frozen=True)
class SimulationResult:
    policy: ProposedPolicy
    days: int
    senders: tuple[SenderImpact, ...]
    strict_alignment_estimated: bool

    def group(self, statuses: Iterable[SenderStatus]) -> Outcome:
        """Worst-case outcome summed over senders with one of ``statuses`` (forwarded mail,
        one line of its own, is not in any status group)."""
        wanted = set(statuses)
        total = Outcome()
        for sender in self.senders:
            if sender.status in wanted and sender.sender_key != FORWARDED_KEY:
                total = total + sender.worst
        return total

    def forwarded(self) -> Outcome:
        line = next((s for s in self.senders if s.sender_key == FORWARDED_KEY), None)
        return line.worst if line is not None else Outcome()


def _policy(tags: Mapping[str, str], name: str, default: str) -> Policy:
    value = tags.get(name, default).lower()
    try:
        return Policy(value)
    except ValueError:
        raise SimulationInputError(f"{name}={value} is not none, quarantine or reject") from None


def _choice(tags: Mapping[str, str], name: str, allowed: str, default: str) -> str:
    value = tags.get(name, default).lower()
    if value not in allowed.split():
        raise SimulationInputError(f"{name}={value} is not one of {allowed}")
    return value


def parse_proposal(text: str) -> ProposedPolicy:
    """Read a proposed record (``v=DMARC1; p=...``); raises SimulationInputError."""
    tags = parse_tags(text)
    if tags.get("v") != "DMARC1":
        raise SimulationInputError("the record must start with v=DMARC1")
    p = _policy(tags, "p", "none")
    pct_text = tags.get("pct", "100")
    if not pct_text.isdigit() or int(pct_text) > 100:
        raise SimulationInputError(f"pct={pct_text} is not a number from 0 to 100")
    sp = _policy(tags, "sp", p.value)
    _policy(tags, "np", sp.value)  # validated; see the module docstring on np
    return ProposedPolicy(
        p=p,
        sp=sp,
        adkim=_choice(tags, "adkim", "r s", "r"),
        aspf=_choice(tags, "aspf", "r s", "r"),
        testing=_choice(tags, "t", "y n", "n") == "y",
        pct=int(pct_text),
    )


def _aligned(row: DailyRow, policy: ProposedPolicy) -> tuple[bool, bool]:
    """(passes DMARC, alignment was estimated) under the proposal's alignment modes."""
    spf, dkim, estimated = row.spf_aligned, row.dkim_aligned, False
    if policy.aspf == "s" and spf:
        spf = row.spf_domain is not None and row.spf_domain.lower() == row.header_from.lower()
        estimated = estimated or row.spf_domain is None
    if policy.adkim == "s" and dkim:
        domains = row.dkim_domains or ()
        dkim = row.header_from.lower() in {d.lower() for d in domains}
        estimated = estimated or row.dkim_domains is None
    return spf or dkim, estimated


def _outcome(policy: Policy, count: int) -> Outcome:
    if policy is Policy.REJECT:
        return Outcome(rejected=count)
    return Outcome(quarantined=count) if policy is Policy.QUARANTINE else Outcome()


def apply_policy(policy: ProposedPolicy, requested: Policy, count: int) -> tuple[Outcome, Outcome]:
    """What RFC 9989 and RFC 7489 receivers do with ``count`` failing messages."""
    testing_9989 = policy.testing or policy.pct == 0
    rfc9989 = _outcome(LOWER[requested] if testing_9989 else requested, count)
    applied = round(count * policy.pct / 100)
    rfc7489 = _outcome(requested, applied) + _outcome(LOWER[requested], count - applied)
    return rfc9989, rfc7489


def _requested(policy: ProposedPolicy, domain: str, header_from: str) -> Policy:
    return policy.p if header_from.lower().rstrip(".") == domain.lower() else policy.sp


def _first_impact(row: DailyRow) -> SenderImpact:
    if row.forwarded:
        return SenderImpact(
            FORWARDED_KEY, "forwarded mail", SenderStatus.UNKNOWN, 0, 0, Outcome(), Outcome(), 0
        )
    name = row.sender_name or row.sender_key
    return SenderImpact(row.sender_key, name, row.sender_status, 0, 0, Outcome(), Outcome())


def simulate(domain: str, rows: Iterable[DailyRow], policy: ProposedPolicy) -> SimulationResult:
    """Replay ``rows`` of ``domain`` under ``policy``."""
    impacts: dict[str, SenderImpact] = {}
    forwarded_sources: set[str] = set()
    days: set[date] = set()
    estimated_any = False
    for row in rows:
        days.add(row.day)
        passes, estimated = _aligned(row, policy)
        estimated_any = estimated_any or estimated
        failing = 0 if passes else row.count
        requested = _requested(policy, domain, row.header_from)
        rfc9989, rfc7489 = apply_policy(policy, requested, failing)
        key = FORWARDED_KEY if row.forwarded else row.sender_key
        seen = impacts.get(key) or _first_impact(row)
        if row.forwarded and row.sender_key not in forwarded_sources:
            forwarded_sources.add(row.sender_key)
            seen = replace(seen, sources=len(forwarded_sources))
        impacts[key] = replace(
            seen,
            messages=seen.messages + row.count,
            failing=seen.failing + failing,
            rfc9989=seen.rfc9989 + rfc9989,
            rfc7489=seen.rfc7489 + rfc7489,
        )
    ordered = sorted(impacts.values(), key=lambda s: (-s.worst.affected, s.sender_key))
    return SimulationResult(policy, len(days), tuple(ordered), estimated_any)
