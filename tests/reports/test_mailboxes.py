"""Mailbox polling against a real Dovecot: fetch, store, parse, then archive; a failing mailbox
backs off and is reported without stopping the others."""

from __future__ import annotations

import gzip
import imaplib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from msp.extensions import db
from msp.reports import mailboxes
from msp.reports.models import RawReport, ReportMailbox
from tests.factories import make_domain, make_tenant
from tests.reports.corpus import CORPUS
from tests.reports.hostile import report_email, report_xml
from tests.support.imap_server import ImapServer, running_imap_server

FAILURE = CORPUS / "forensic" / "dmarc_ruf_report_linkedin.eml"
NOT_A_REPORT = b"From: a@b.test\r\nTo: c@d.test\r\nSubject: hello\r\n\r\nJust saying hi.\r\n"


@pytest.fixture(scope="module")
def imap_server() -> Iterator[ImapServer]:
    with running_imap_server() as server:
        yield server


def imap(server: ImapServer) -> imaplib.IMAP4:
    conn = imaplib.IMAP4(server.host, server.port)
    conn.login(server.user, server.password)
    return conn


def put(server: ImapServer, folder: str, messages: list[bytes]) -> None:
    conn = imap(server)
    conn.create(folder)
    for message in messages:
        status, _ = conn.append(folder, "", imaplib.Time2Internaldate(time.time()), message)
        assert status == "OK"
    conn.logout()


def count(server: ImapServer, folder: str) -> int:
    conn = imap(server)
    status, data = conn.select(folder)
    conn.logout()
    return int(data[0]) if status == "OK" else -1


def mailbox(server: ImapServer, tenant_id: int | None, folder: str, **extra: Any) -> Any:
    return mailboxes.create_mailbox(
        tenant_id,
        {
            "name": folder,
            "host": server.host,
            "port": server.port,
            "tls": "none",
            "username": server.user,
            "password": extra.get("password", server.password),
            "folder": folder,
            "archive_folder": f"{folder}-done",
        },
    )


def test_poll_stores_parses_and_only_then_archives(
    imap_server: ImapServer,
    db_session: Any,
    run_jobs: Any,
    reports_config: Any,
    failed_jobs: Any,
) -> None:
    tenant = make_tenant("imap")
    make_domain(tenant, "imap.example")
    make_domain(tenant, "example.com")
    good = report_email(gzip.compress(report_xml(domain="imap.example")), "r.xml.gz")
    put(imap_server, "poll1", [good, FAILURE.read_bytes(), NOT_A_REPORT])
    box = mailbox(imap_server, tenant.id, "poll1")
    db.session.commit()
    run_jobs()  # nothing queued yet: the sweep does the polling
    from workers.reports import sweep_mailboxes

    assert sweep_mailboxes() == 1
    run_jobs()
    assert failed_jobs() == {}
    statuses = sorted(
        (r.kind or "-", r.status)
        for r in db.session.scalars(select(RawReport).where(RawReport.mailbox_id == box.id))
    )
    assert statuses == [("-", "rejected"), ("aggregate", "ingested"), ("failure", "ingested")]
    assert (count(imap_server, "poll1"), count(imap_server, "poll1-done")) == (0, 3)
    stored = db.session.get(ReportMailbox, box.id)
    assert stored is not None and stored.last_error is None and stored.last_ok_at is not None


def test_a_failing_mailbox_backs_off_without_stopping_the_others(
    imap_server: ImapServer, db_session: Any, reports_config: Any
) -> None:
    tenant = make_tenant("imap-bad")
    make_domain(tenant, "imap-bad.example")
    put(
        imap_server,
        "poll2",
        [report_email(gzip.compress(report_xml(domain="imap-bad.example")), "r.xml.gz")],
    )
    broken = mailbox(imap_server, tenant.id, "poll2", password="wrong")
    working = mailbox(imap_server, tenant.id, "poll2")
    now = datetime.now(UTC)
    result = mailboxes.poll(broken.id, now=now)
    assert result.error == "auth: the login was refused"  # never the server's own words
    assert broken.consecutive_failures == 1 and broken.next_poll_at > now
    assert mailboxes.poll(working.id, now=now).stored == 1
    assert mailboxes.due_mailboxes(now) == []
    second = mailboxes.poll(broken.id, now=broken.next_poll_at)
    assert second.error and broken.consecutive_failures == 2
