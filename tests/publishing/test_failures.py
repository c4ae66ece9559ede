"""A provider that times out or refuses the key: retried with back-off, never a stage move,
and after the last attempt an event for the owning team."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from msp.db import utcnow
from msp.events import Event
from msp.extensions import db
from msp.policy import service as policy
from msp.publishing import service
from msp.publishing.models import Publication
from tests.publishing.conftest import DnsEvidence, check_now, wire
from tests.publishing.servers import TsigKnot
from tests.publishing.test_end_to_end import issue, stage_of, txt_at

WRONG_SECRET = "d3JvbmctdHNpZy1zZWNyZXQtZm9yLXRoZS10ZXN0cyE="


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP port that accepts connections and never answers (a provider that hangs)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def fast_retries(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    waits = [60, 300]
    monkeypatch.setitem(app.config, "MSP_PUBLISH_RETRY_SECONDS", waits)
    monkeypatch.setitem(app.config, "MSP_PUBLISH_TIMEOUT", 0.3)
    return waits


def _run_out_of_attempts(change_id: int, waits: list[int], start: Any) -> list[str]:
    outcomes, at = [], start
    outcomes.append(service.publish_change(change_id, at))
    for wait in waits:
        assert service.publish_change(change_id, at + timedelta(seconds=wait - 1)) == "wait"
        assert change_id not in service.due_change_ids(at + timedelta(seconds=wait - 1))
        at += timedelta(seconds=wait)
        assert change_id in service.due_change_ids(at)
        outcomes.append(service.publish_change(change_id, at))
    return outcomes


@pytest.mark.parametrize("failure", ["refused_key", "timeout"])
def test_a_failing_provider_is_retried_then_alerts_and_the_stage_never_moves(
    db_session: Any,
    knot: TsigKnot,
    evidence: DnsEvidence,
    fast_retries: list[int],
    silent_server: str,
    failure: str,
) -> None:
    options = knot.options()
    if failure == "refused_key":
        options["tsig_secret"] = WRONG_SECRET
    else:
        options["server"] = silent_server
    wired = wire(options)
    at = utcnow()
    check_now(knot.nameserver, wired.domain.id, at - timedelta(minutes=5))
    change = issue(wired.domain.id, at)
    outcomes = _run_out_of_attempts(change.id, fast_retries, at)
    assert outcomes == ["retrying", "retrying", "failed"]
    publication = db.session.scalars(select(Publication)).one()
    assert (publication.status, publication.attempts) == ("failed", 3)
    expected = "refused the TSIG key" if failure == "refused_key" else "did not answer"
    assert expected in (publication.error or "")
    kinds = db.session.scalars(
        select(Event.kind).where(Event.kind.like("publishing.%")).order_by(Event.id)
    ).all()
    assert kinds == ["publishing.retrying", "publishing.retrying", "publishing.failed"]
    alert = db.session.scalars(select(Event).where(Event.kind == "publishing.failed")).one()
    assert alert.severity == "error" and alert.domain_id == wired.domain.id
    assert service.publish_change(change.id, at + timedelta(days=1)) == "failed"
    assert not any(v.startswith("v=DMARC1") for v in txt_at(knot, "_dmarc.pub-e2e.test"))
    check_now(knot.nameserver, wired.domain.id, at + timedelta(hours=1))
    assert policy.advance_change(change.id, at + timedelta(hours=1)) in {"wait", "reminder"}
    assert stage_of(wired.domain.id) == "none"
    db.session.flush()
