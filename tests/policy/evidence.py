"""An in-memory evidence source for the policy area's integration tests.

It stands in for the DNS checker's and report ingestion's read side (other areas' services),
registered through the loader's documented seam ``app.extensions["msp_policy_evidence"]``.
The database, the queue and the workers in these tests are the real ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pytest
from flask import Flask

from msp.policy.facts import CoverageFacts, PostureFacts, SenderFacts
from msp.policy.loader import EXTENSION_KEY
from msp.policy.simulate import DailyRow

# A domain the tests did not describe was checked long ago and publishes no DMARC record.
NOTHING_PUBLISHED = PostureFacts(datetime(2020, 1, 1, tzinfo=UTC), None, True, 3)


@dataclass
class StaticEvidence:
    postures: dict[int, PostureFacts] = field(default_factory=dict)
    default_posture: PostureFacts | None = NOTHING_PUBLISHED
    senders_by_domain: dict[int, tuple[SenderFacts, ...]] = field(default_factory=dict)
    recent_by_domain: dict[int, tuple[SenderFacts, ...]] = field(default_factory=dict)
    coverages: dict[int, CoverageFacts] = field(default_factory=dict)
    rows: dict[int, list[DailyRow]] = field(default_factory=dict)
    windows: list[tuple[date, date]] = field(default_factory=list)
    forwarded: dict[int, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    def posture(self, domain_id: int) -> PostureFacts | None:
        return self.postures.get(domain_id, self.default_posture)

    def senders(self, domain_id: int, since: date, until: date) -> tuple[SenderFacts, ...]:
        self.windows.append((since, until))
        if (until - since).days < 7 and domain_id in self.recent_by_domain:
            return self.recent_by_domain[domain_id]
        return self.senders_by_domain.get(domain_id, ())

    def coverage(self, domain_id: int, since: date, until: date) -> CoverageFacts:
        return self.coverages.get(domain_id, CoverageFacts())

    def daily_rows(self, domain_id: int, since: date, until: date) -> list[DailyRow]:
        return [r for r in self.rows.get(domain_id, []) if since <= r.day <= until]

    def forwarding(self, domain_id: int, since: date, until: date) -> Mapping[str, tuple[str, ...]]:
        return self.forwarded.get(domain_id, {})


@pytest.fixture
def evidence(app: Flask) -> Iterator[StaticEvidence]:
    source = StaticEvidence()
    app.extensions[EXTENSION_KEY] = source
    try:
        yield source
    finally:
        app.extensions.pop(EXTENSION_KEY, None)
