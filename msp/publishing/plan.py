"""What a publication writes: for each record of a change, the RRset at the provider now, the
values the engine owns in it, what they should be, and whether a hand edit blocks the write.

The engine owns only its own values: the DMARC TXT at ``_dmarc`` and, for the parked fast
path, the SPF TXT and the MX at the apex (a null MX must be the only MX, RFC 7505); in the
hosted zone also the MTA-STS id and TLS-RPT TXT records. Every
other value at the name is carried over unchanged. Pure: the I/O is in the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msp.publishing.providers import RRset
from msp.publishing.providers.wire import normalize


def owned(rtype: str, value: str) -> bool:
    """Whether the engine owns ``value`` in an RRset of ``rtype``."""
    if rtype == "MX":
        return True
    text = value.strip().lower()
    if text.startswith(("v=dmarc1", "v=stsv1", "v=tlsrptv1")):
        return True
    return text == "v=spf1" or text.startswith("v=spf1 ")


def owned_values(rrset: RRset) -> tuple[str, ...]:
    return tuple(sorted(v for v in rrset.values if owned(rrset.rtype, v)))


@dataclass(frozen=True)
class RecordPlan:
    """One RRset to swap. ``expected`` are the owned values the engine may replace (what the
    last DNS check saw, or what it last wrote); None when nothing is known."""

    public_name: str
    current: RRset
    desired: tuple[str, ...]
    expected: tuple[tuple[str, ...], ...]
    skipped: str | None = None

    @property
    def before(self) -> tuple[str, ...]:
        return owned_values(self.current)

    @property
    def after_rrset(self) -> RRset:
        others = tuple(v for v in self.current.values if not owned(self.current.rtype, v))
        values = tuple(sorted({*others, *self.desired}))
        return RRset(self.current.name, self.current.rtype, self.current.ttl, values)

    @property
    def done(self) -> bool:
        return self.before == tuple(sorted(self.desired))

    @property
    def hand_edit(self) -> str | None:
        """Why writing would clobber someone else's edit (None: safe to write)."""
        if self.done or self.skipped or self.before in self.expected:
            return None
        if not self.expected:
            return f"{self.public_name} {self.current.rtype}: no DNS check has read it yet"
        seen = " | ".join(" + ".join(v) or "(none)" for v in self.expected)
        now = " + ".join(self.before) or "(none)"
        return f"{self.public_name} {self.current.rtype} is {now!r}, the engine expected {seen!r}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.public_name,
            "written_at": self.current.name,
            "type": self.current.rtype,
            "before": list(self.before),
            "after": list(self.desired),
            "rrset_before": list(self.current.values),
            "rrset_after": list(self.after_rrset.values),
            "changed": not self.done and not self.skipped,
            "hand_edit": self.hand_edit,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class PublishPlan:
    """Everything one publication would write, through which provider and zone."""

    provider: str
    zone: str
    records: tuple[RecordPlan, ...]

    @property
    def hand_edits(self) -> tuple[str, ...]:
        return tuple(r.hand_edit for r in self.records if r.hand_edit)

    @property
    def to_write(self) -> tuple[RecordPlan, ...]:
        return tuple(r for r in self.records if not r.done and not r.skipped)

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "zone": self.zone,
            "records": [r.as_dict() for r in self.records],
            "hand_edits": list(self.hand_edits),
        }


def desired_values(records: list[dict[str, Any]], name: str, rtype: str) -> tuple[str, ...]:
    """The values a change asks for at ``name``/``rtype`` (its records' ``value``s)."""
    return tuple(
        sorted(
            normalize(rtype, r["value"])
            for r in records
            if r["name"].rstrip(".").lower() == name and r["type"] == rtype
        )
    )


def targets(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The (name, type) pairs a change writes, in a stable order."""
    return sorted({(r["name"].rstrip(".").lower(), r["type"]) for r in records})
