"""The IMAP adapter against a real Dovecot on loopback: fetch, archive, auth errors."""

from __future__ import annotations

import gzip
import imaplib
import time
from collections.abc import Iterator

import pytest

from msp.reports import imap
from tests.reports import hostile
from tests.reports.conftest import LOOPBACK_GUARD
from tests.support.imap_server import ImapServer, running_imap_server


@pytest.fixture(scope="module")
def imap_server() -> Iterator[ImapServer]:
    with running_imap_server() as server:
        yield server


def append(server: ImapServer, data: bytes, folder: str = "INBOX") -> None:
    conn = imaplib.IMAP4(server.host, server.port)
    conn.login(server.user, server.password)
    status, _ = conn.append(folder, "", imaplib.Time2Internaldate(time.time()), data)
    conn.logout()
    assert status == "OK"


def config(server: ImapServer, **overrides: object) -> imap.MailboxConfig:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "username": server.user,
        "password": server.password,
        "tls": "none",
        "folder": "INBOX",
        "archive_folder": "Processed",
        "guard": LOOPBACK_GUARD,
    } | overrides
    return imap.MailboxConfig(**values)  # type: ignore[arg-type]


def test_fetch_then_archive_moves_only_the_fetched_messages(imap_server: ImapServer) -> None:
    eml = hostile.report_email(gzip.compress(hostile.GOOD_XML), "r.xml.gz")
    append(imap_server, eml)
    append(imap_server, eml.replace(b"rid-1", b"rid-2"))
    cfg = config(imap_server)
    batch = imap.fetch_batch(cfg, max_messages=1, max_bytes=10_000_000)
    assert (len(batch) == 1 and batch[0].data.startswith(b"From:")) or b"Subject" in batch[0].data
    assert imap.archive(cfg, [batch[0].uid]) == 1
    rest = imap.fetch_batch(cfg, max_messages=10, max_bytes=10_000_000)
    assert len(rest) == 1 and rest[0].uid != batch[0].uid
    moved = imap.fetch_batch(
        config(imap_server, folder="Processed"), max_messages=10, max_bytes=10**7
    )
    assert len(moved) == 1
    imap.archive(cfg, [m.uid for m in rest])


def test_wrong_password_is_an_auth_error(imap_server: ImapServer) -> None:
    with pytest.raises(imap.MailboxError) as info:
        imap.fetch_batch(config(imap_server, password="nope"), max_messages=1, max_bytes=1000)
    assert info.value.kind == "auth"


def test_closed_port_is_a_refused_error(imap_server: ImapServer) -> None:
    from tests.support.net import free_port

    with pytest.raises(imap.MailboxError) as info:
        imap.fetch_batch(
            config(imap_server, port=free_port(), timeout=2), max_messages=1, max_bytes=1000
        )
    assert info.value.kind == "refused"
    assert info.value.public == "refused: the mailbox server could not be reached"
