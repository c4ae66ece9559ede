"""The exact DNS records each stage asks the customer to publish, generated, never hand-typed.

Records are correct under RFC 9989 and RFC 7489 at once:

- ``v`` first and ``p`` right after it (RFC 7489 §6.3 requires that order);
- ``sp`` and ``np`` always stated explicitly, never left to fall back on ``p``;
- test steps carry ``t=y`` (RFC 9989 §4.7: apply one level below). RFC 7489 receivers ignore
  ``t`` as an unknown tag and would enforce in full, so a tenant may opt into the legacy ramp,
  which adds ``pct=0`` to test steps: RFC 7489 then applies the next lower policy too
  (§6.6.4), and RFC 9989 maps ``pct=0`` to ``t=y`` (App. A.6). Without the opt-in no ``pct``
  is ever written (it is historic in RFC 9989);
- the parked fast path adds ``v=spf1 -all`` and a null MX (RFC 7505) next to ``p=reject``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from msp.policy.stages import POLICY_RANK, SPECS, Policy, Stage

TXT_STRING_MAX = 255


@dataclass(frozen=True)
class DmarcRecord:
    """A DMARC policy record as tags; :meth:`text` is the TXT content to publish."""

    p: Policy
    sp: Policy
    np: Policy
    rua: tuple[str, ...] = ()
    ruf: tuple[str, ...] = ()
    adkim: str = "r"
    aspf: str = "r"
    fo: str = "1"
    testing: bool = False
    pct: int | None = None

    def tags(self) -> list[tuple[str, str]]:
        """Tags in publication order."""
        tags = [("v", "DMARC1"), ("p", self.p.value), ("sp", self.sp.value), ("np", self.np.value)]
        if self.testing:
            tags.append(("t", "y"))
        if self.pct is not None:
            tags.append(("pct", str(self.pct)))
        tags += [("adkim", self.adkim), ("aspf", self.aspf)]
        if self.rua:
            tags.append(("rua", ",".join(self.rua)))
        if self.ruf:
            tags += [("ruf", ",".join(self.ruf)), ("fo", self.fo)]
        return tags

    def text(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.tags())


@dataclass(frozen=True)
class DnsRecord:
    """One resource record to publish: owner name, type and presentation value."""

    name: str
    rtype: str
    value: str

    def zone_line(self, ttl: int = 3600) -> str:
        """The record as a zone-file line; long TXT content is split into 255-octet strings."""
        value = self.value
        if self.rtype == "TXT":
            value = " ".join(f'"{chunk}"' for chunk in split_txt(self.value))
        return f"{self.name}. {ttl} IN {self.rtype} {value}"


@dataclass(frozen=True)
class RecordOptions:
    """What shapes a domain's records besides its stage (from settings and deployment config)."""

    rua: tuple[str, ...]
    ruf: tuple[str, ...] = ()
    legacy_pct_ramp: bool = False
    subdomain_policy_cap: Policy = Policy.REJECT


@dataclass(frozen=True)
class StageRecords:
    """Everything to publish for one stage of one domain."""

    stage: Stage
    dmarc: DmarcRecord
    records: tuple[DnsRecord, ...]


def split_txt(text: str) -> list[str]:
    """Split TXT content into character-strings of at most 255 octets (RFC 1035 §3.3)."""
    data = text.encode()
    return [data[i : i + TXT_STRING_MAX].decode() for i in range(0, len(data), TXT_STRING_MAX)]


def _cap(policy: Policy, cap: Policy) -> Policy:
    return policy if POLICY_RANK[policy] <= POLICY_RANK[cap] else cap


def dmarc_for_stage(stage: Stage, options: RecordOptions) -> DmarcRecord:
    """The DMARC record of ``stage``; raises KeyError for ``Stage.NONE`` (nothing to publish)."""
    spec = SPECS[stage]
    parked = stage is Stage.PARKED
    return DmarcRecord(
        p=spec.p,
        sp=spec.p if parked else _cap(spec.p, options.subdomain_policy_cap),
        np=spec.p,
        rua=options.rua,
        ruf=options.ruf,
        adkim="s" if parked else "r",
        aspf="s" if parked else "r",
        testing=spec.testing,
        pct=0 if spec.testing and options.legacy_pct_ramp else None,
    )


def records_for_stage(domain: str, stage: Stage, options: RecordOptions) -> StageRecords | None:
    """All records to publish for ``stage`` at ``domain``; None for ``Stage.NONE``."""
    if stage is Stage.NONE:
        return None
    dmarc = dmarc_for_stage(stage, options)
    records = [DnsRecord(f"_dmarc.{domain}", "TXT", dmarc.text())]
    if stage is Stage.PARKED:
        records += [DnsRecord(domain, "TXT", "v=spf1 -all"), DnsRecord(domain, "MX", "0 .")]
    return StageRecords(stage=stage, dmarc=dmarc, records=tuple(records))


def parse_tags(text: str) -> dict[str, str]:
    """A lenient tag=value parse of a published DMARC record (for comparison, not validation:
    the DNS checker owns findings). Tag names are lower-cased, later duplicates ignored."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), value.strip())
    return tags


def _uris(value: str) -> set[str]:
    return {uri.strip().lower() for uri in value.split(",") if uri.strip()}


def record_mismatches(planned: DmarcRecord, published: Mapping[str, str] | None) -> list[str]:
    """Why the published tags do not enforce what was planned; empty when they match.

    Policy tags and flags must be equal (with RFC defaults for absent tags); the planned report
    addresses must be present (the customer may add their own).
    """
    if published is None:
        return ["no DMARC record is published"]
    expected = dict(planned.tags())
    seen = {"p": published.get("p", "none")}
    seen["sp"] = published.get("sp", seen["p"])
    seen["np"] = published.get("np", seen["sp"])  # RFC 9989: np falls back to sp, then p
    seen["adkim"] = published.get("adkim", "r")
    seen["aspf"] = published.get("aspf", "r")
    mismatches = [
        f"{name}={value} instead of {name}={expected[name]}"
        for name, value in seen.items()
        if value.lower() != expected[name]
    ]
    for name, default in (("t", "n"), ("pct", "100")):
        value, want = published.get(name, default).lower(), expected.get(name, default)
        if value != want:
            mismatches.append(f"{name}={value} instead of {name}={want}")
    missing = _uris(expected.get("rua", "")) - _uris(published.get("rua", ""))
    if missing:
        mismatches.append("rua lacks " + ", ".join(sorted(missing)))
    return mismatches


def infer_stage(published: Mapping[str, str] | None) -> Stage:
    """The stage a published record already amounts to (for a domain joining the platform)."""
    if not published or published.get("v") != "DMARC1":
        return Stage.NONE
    p = published.get("p", "none").lower()
    testing = published.get("t", "n").lower() == "y" or published.get("pct") == "0"
    if p == Policy.REJECT.value:
        return Stage.REJECT_TEST if testing else Stage.REJECT
    if p == Policy.QUARANTINE.value:
        return Stage.QUARANTINE_TEST if testing else Stage.QUARANTINE
    return Stage.MONITOR
