"""IMAP over TLS against a real Dovecot with a test CA (trustme): implicit TLS and STARTTLS fetch
when the server's certificate is trusted, and certificate verification is on: an unknown CA, a
host name the certificate does not name, or a server without STARTTLS are refused with a clear
``tls`` error; such a mailbox backs off while a verified one is still polled."""

from __future__ import annotations

import gzip
import imaplib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

from msp.extensions import db
from msp.reports import imap, mailboxes
from msp.reports.models import RawReport
from tests.factories import make_domain, make_tenant
from tests.reports import hostile
from tests.reports.conftest import LOOPBACK_GUARD
from tests.support.imap_server import ImapServer, TlsFiles, running_imap_server


@dataclass(frozen=True)
class TlsWorld:
    server: ImapServer
    ca_file: str
    other_ca_file: str

    @property
    def tls_port(self) -> int:
        assert self.server.tls_port is not None
        return self.server.tls_port


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsWorld]:
    ca, other = trustme.CA(), trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")  # an IP SAN only: "localhost" is a host name mismatch
    files = TlsFiles(
        cert_chain=b"".join(pem.bytes() for pem in leaf.cert_chain_pems),
        key=leaf.private_key_pem.bytes(),
    )
    folder = tmp_path_factory.mktemp("ca")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    other.cert_pem.write_to_path(str(folder / "other.pem"))
    with running_imap_server(files) as server:
        yield TlsWorld(server, str(folder / "ca.pem"), str(folder / "other.pem"))


def put(server: ImapServer, folder: str, *messages: bytes) -> None:
    conn = imaplib.IMAP4(server.host, server.port)  # plaintext on loopback, for set-up only
    conn.login(server.user, server.password)
    conn.create(folder)
    for message in messages:
        status, _ = conn.append(folder, "", imaplib.Time2Internaldate(time.time()), message)
        assert status == "OK"
    conn.logout()


def report(domain: str = "tls.example") -> bytes:
    return hostile.report_email(gzip.compress(hostile.report_xml(domain=domain)), "r.xml.gz")


def config(world: TlsWorld, mode: str, **overrides: Any) -> imap.MailboxConfig:
    values: dict[str, Any] = {
        "host": world.server.host,
        "port": world.tls_port if mode == "tls" else world.server.port,
        "username": world.server.user,
        "password": world.server.password,
        "tls": mode,
        "ca_file": world.ca_file,
        "timeout": 5,
        "guard": LOOPBACK_GUARD,
    } | overrides
    return imap.MailboxConfig(**values)


@pytest.mark.parametrize("mode", ["tls", "starttls"])
def test_a_trusted_certificate_lets_the_mailbox_be_read(world: TlsWorld, mode: str) -> None:
    put(world.server, f"ok-{mode}", report())
    before = _tls_logins(world)
    batch = imap.fetch_batch(
        config(world, mode, folder=f"ok-{mode}"), max_messages=10, max_bytes=10**7
    )
    assert len(batch) == 1 and b"Subject:" in batch[0].data
    deadline = time.monotonic() + 5  # Dovecot's log process writes asynchronously
    while _tls_logins(world) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _tls_logins(world) == before + 1, "the login went over TLS"


def _tls_logins(world: TlsWorld) -> int:
    log = Path(world.server.base_dir, "dovecot.log").read_text().splitlines()
    return sum("Login: user=<dmarc>" in line and ", TLS," in line for line in log)


@pytest.mark.parametrize("mode", ["tls", "starttls"])
@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"ca_file": "OTHER"}, "unable to get local issuer certificate"),
        ({"ca_file": None}, "unable to get local issuer certificate"),  # the system store
        ({"host": "localhost"}, "Hostname mismatch, certificate is not valid for 'localhost'."),
    ],
    ids=["another-ca", "system-store", "wrong-host-name"],
)
def test_an_untrusted_certificate_is_refused_with_a_clear_tls_error(
    world: TlsWorld, mode: str, overrides: dict[str, Any], why: str
) -> None:
    if overrides.get("ca_file") == "OTHER":
        overrides = {"ca_file": world.other_ca_file}
    cfg = config(world, mode, **overrides)
    with pytest.raises(imap.MailboxError) as info:
        imap.fetch_batch(cfg, max_messages=1, max_bytes=1000)
    assert info.value.kind == "tls"
    assert str(info.value) == f"certificate of {cfg.host}:{cfg.port} refused: {why}"


def test_starttls_never_falls_back_to_plaintext() -> None:
    with running_imap_server() as plain:  # ssl = no: no STARTTLS offered
        cfg = imap.MailboxConfig(
            plain.host,
            plain.port,
            plain.user,
            plain.password,
            tls="starttls",
            timeout=5,
            guard=LOOPBACK_GUARD,
        )
        with pytest.raises(imap.MailboxError) as info:
            imap.fetch_batch(cfg, max_messages=1, max_bytes=1000)
    assert info.value.kind == "tls" and "does not offer STARTTLS" in str(info.value)


def test_a_missing_ca_bundle_is_a_tls_error(world: TlsWorld, tmp_path: Path) -> None:
    cfg = config(world, "tls", ca_file=str(tmp_path / "nope.pem"))
    with pytest.raises(imap.MailboxError) as info:
        imap.fetch_batch(cfg, max_messages=1, max_bytes=1000)
    assert info.value.kind == "tls" and "nope.pem" in str(info.value)


def _mailbox(world: TlsWorld, tenant_id: int, name: str, host: str, mode: str) -> Any:
    return mailboxes.create_mailbox(
        tenant_id,
        {
            "name": name,
            "host": host,
            "port": world.tls_port if mode == "tls" else world.server.port,
            "tls": mode,
            "username": world.server.user,
            "password": world.server.password,
            "folder": name,
            "archive_folder": f"{name}-done",
        },
    )


def test_a_refused_mailbox_backs_off_while_a_verified_one_is_polled(
    world: TlsWorld,
    db_session: Any,
    reports_config: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    tenant = make_tenant("imap-tls")
    make_domain(tenant, "tls.example")
    put(world.server, "tls-bad", report())
    put(world.server, "tls-good", report(), report().replace(b"rid-1", b"rid-2"))
    refused = _mailbox(world, tenant.id, "tls-bad", "localhost", "tls")
    verified = _mailbox(world, tenant.id, "tls-good", "127.0.0.1", "starttls")
    now = datetime.now(UTC)

    reports_config["MSP_REPORTS_IMAP_CA_FILE"] = None  # the system store knows no test CA
    untrusted = mailboxes.poll(verified.id, now=now)
    assert untrusted.error == "tls: " + imap.KINDS["tls"]
    assert "unable to get local issuer certificate" in caplog.text  # the detail: log only

    reports_config["MSP_REPORTS_IMAP_CA_FILE"] = world.ca_file
    later = verified.next_poll_at
    result = mailboxes.poll(refused.id, now=later)
    assert result.error == "tls: " + imap.KINDS["tls"]
    assert "Hostname mismatch, certificate is not valid for 'localhost'." in caplog.text
    assert refused.consecutive_failures == 1 and refused.next_poll_at > later
    assert refused.last_error == result.error
    polled = mailboxes.poll(verified.id, now=later)
    assert (polled.error, polled.fetched, polled.stored) == (None, 2, 2)
    assert verified.consecutive_failures == 0 and verified.last_error is None
    rows = db.session.query(RawReport).filter_by(mailbox_id=verified.id).count()
    assert rows == 2 and db.session.query(RawReport).filter_by(mailbox_id=refused.id).count() == 0
