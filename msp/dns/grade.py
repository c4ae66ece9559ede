"""Letter grade of a domain's posture: points off per distinct finding, capped by what DMARC
actually enforces (a domain no receiver protects cannot score above D)."""

from __future__ import annotations

from collections.abc import Iterable

from msp.dns.findings import Finding, Severity

PENALTY = {Severity.ERROR: 12, Severity.WARNING: 4, Severity.INFO: 0}
BANDS = ((90, "A"), (75, "B"), (60, "C"), (40, "D"))
CAP_BY_POLICY = {None: "F", "none": "D", "quarantine": "B", "reject": "A"}
ORDER = "ABCDF"
UNKNOWN = "?"


def score(findings: Iterable[Finding]) -> int:
    codes = {f.code: f.severity for f in findings}
    return max(0, 100 - sum(PENALTY[s] for s in codes.values()))


def letter(points: int) -> str:
    return next((grade for floor, grade in BANDS if points >= floor), "F")


def grade(
    findings: Iterable[Finding],
    policy: str | None,
    spf_valid: bool | None,
    dmarc_unknown: bool = False,
) -> str:
    """A..F, or ``?`` when DMARC could not be looked up (a DNS failure is not a missing
    record, and not a clean bill of health either)."""
    if dmarc_unknown:
        return UNKNOWN
    result = letter(score(findings))
    caps = [CAP_BY_POLICY.get(policy, "F")]
    if spf_valid is False:
        caps.append("C")
    return max([result, *caps], key=ORDER.index)
