"""Everything the policy engine knows about a domain, as frozen dataclasses.

The loader fills these from the DNS checker and report ingestion; tests and the fleet
simulation build them directly. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from msp.policy.records import RecordOptions
from msp.policy.settings import DEFAULTS, PolicySettings
from msp.policy.stages import Stage


class SenderStatus(StrEnum):
    """How the MSP classified a sending source (report ingestion owns the classification)."""

    APPROVED = "approved"
    FORWARDER = "forwarder"
    ABUSE = "abuse"
    UNKNOWN = "unknown"


class ChangeKind(StrEnum):
    ESCALATE = "escalate"
    ROLLBACK = "rollback"


class ChangeStatus(StrEnum):
    """Life of a proposed stage change; the last four are final."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    VERIFIED = "verified"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    SUPERSEDED = "superseded"


OPEN_STATUSES = frozenset(
    {ChangeStatus.PROPOSED, ChangeStatus.APPROVED, ChangeStatus.SCHEDULED, ChangeStatus.PUBLISHED}
)


@dataclass(frozen=True)
class SenderFacts:
    """One sending source's volume and authentication results in an evidence window."""

    key: str
    name: str
    status: SenderStatus
    messages: int
    dmarc_pass: int
    spf_aligned_pass: int
    dkim_aligned_pass: int
    first_seen: date
    last_seen: date
    is_new: bool = False
    dkim_selectors: tuple[str, ...] = ()
    forwarding: tuple[str, ...] = ()  # why its failing mail looks forwarded (see forwarding)
    dkim_broken_since: date | None = None  # first day of its current DKIM-failing streak

    @property
    def pass_share(self) -> float:
        return self.dmarc_pass / self.messages if self.messages else 1.0

    @property
    def forwarded(self) -> bool:
        """Unclassified, and its failing mail carries the marks of forwarding or a list."""
        return self.status is SenderStatus.UNKNOWN and bool(self.forwarding)

    @property
    def failing(self) -> int:
        return self.messages - self.dmarc_pass


@dataclass(frozen=True)
class KnownSender:
    """A sender remembered over the memory horizon (``sender_horizon_days``), even when it is
    quiet in the evidence window: a payroll run once a month must not be forgotten."""

    key: str
    name: str
    status: SenderStatus
    messages: int
    dmarc_pass: int
    first_seen: date
    last_seen: date
    active_days: int
    forwarded: bool = False

    @property
    def pass_share(self) -> float:
        return self.dmarc_pass / self.messages if self.messages else 1.0

    @property
    def typical_volume(self) -> int:
        """Messages on a day it sends."""
        return round(self.messages / max(self.active_days, 1))

    @property
    def cadence_days(self) -> int | None:
        """Days between two sending days, on average (None: seen on one day only)."""
        if self.active_days < 2:
            return None
        return round((self.last_seen - self.first_seen).days / (self.active_days - 1))

    def rhythm(self) -> str:
        cadence = self.cadence_days
        every = f"every ~{cadence} days" if cadence else "seen on one day"
        return f"~{self.typical_volume:,} messages {every}"


@dataclass(frozen=True)
class CoverageFacts:
    """How much report evidence there is: distinct reporters, days with reports, messages."""

    reporters: int = 0
    days_with_reports: int = 0
    messages: int = 0


@dataclass(frozen=True)
class PostureFacts:
    """The latest DNS check: the published DMARC tags, SPF health and DKIM keys.

    ``unreachable`` names the records the check could not read (``spf``, ``dmarc``, ``mx``,
    ``dkim:<selector>``): a DNS failure, which is unknown, never "missing" or "invalid".
    """

    checked_at: datetime
    dmarc_tags: Mapping[str, str] | None
    spf_valid: bool | None
    spf_dns_lookups: int | None
    dkim_selectors: Mapping[str, bool | None] = field(default_factory=dict)
    findings: frozenset[str] = frozenset()
    spf_record: str | None = None
    null_mx: bool | None = None
    unreachable: frozenset[str] = frozenset()

    def unknown(self, *records: str) -> tuple[str, ...]:
        """Which of ``records`` the last check could not read."""
        return tuple(r for r in records if r in self.unreachable)


@dataclass(frozen=True)
class PendingChange:
    """The open stage change of a domain, if any."""

    kind: ChangeKind
    from_stage: Stage
    to_stage: Stage
    status: ChangeStatus
    proposed_at: datetime
    scheduled_for: datetime | None = None
    published_at: datetime | None = None
    last_reminded_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True)
class DomainFacts:
    """The whole input of one evaluation."""

    name: str
    stage: Stage
    stage_since: datetime
    parked: bool
    senders: tuple[SenderFacts, ...]
    recent_senders: tuple[SenderFacts, ...]
    coverage: CoverageFacts
    posture: PostureFacts | None
    records: RecordOptions
    settings: PolicySettings = DEFAULTS
    pending: PendingChange | None = None
    timezone: str = "UTC"
    known_senders: tuple[KnownSender, ...] = ()
