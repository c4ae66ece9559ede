"""Tenant B's report objects for the tenant-isolation test (tests/test_tenant_isolation.py)."""

from __future__ import annotations

from collections.abc import Callable

from msp.reports import mailboxes, service
from tests.isolation import World
from tests.reports.hostile import report_xml


def _ingested(world: World) -> service.Outcome:
    if "reports_b" not in world.extra:
        data = report_xml(domain=world.domain_b.name, report_id="iso-b-1")
        raw, outcomes = service.ingest_now(
            data, source="upload", filename="b.xml", tenant_id=world.tenant_b.id
        )
        world.extra["reports_b"] = (raw.id, outcomes[0])
    return world.extra["reports_b"][1]  # type: ignore[no-any-return]


def _report_id(world: World) -> int:
    outcome = _ingested(world)
    assert outcome.report_pk is not None
    return outcome.report_pk


def _raw_id(world: World) -> int:
    _ingested(world)
    return world.extra["reports_b"][0]  # type: ignore[no-any-return]


def _mailbox_id(world: World) -> int:
    if "mailbox_b" not in world.extra:
        mailbox = mailboxes.create_mailbox(
            world.tenant_b.id,
            {
                "name": "b-box",
                "host": "imap.b-secret.example",
                "port": 993,
                "tls": "tls",
                "username": "dmarc@b-secret.example",
                "password": "b-password",
            },
        )
        world.extra["mailbox_b"] = mailbox.id
    return world.extra["mailbox_b"]  # type: ignore[no-any-return]


FACTORIES: dict[str, Callable[[World], int | str]] = {
    "report_id": _report_id,
    "raw_id": _raw_id,
    "mailbox_id": _mailbox_id,
    "key": lambda w: "google.com",
}
