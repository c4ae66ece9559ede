"""The outbound guard (issue 13, hole 1): addresses refused in every form unless allow-listed,
checked at connect time for IMAP mailboxes and an httpx transport, and mailbox errors shown to
tenants as categories, never in the words of whatever answered at the chosen address."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from msp.netguard import BlockedAddress, Guard, parse_networks
from msp.reports import imap, mailboxes
from tests.factories import make_tenant

REFUSED = [
    "127.0.0.1",
    "::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::7f00:1",  # IPv4-compatible (deprecated), ::127.0.0.1
    "::a9fe:a9fe",  # ::169.254.169.254
    "169.254.169.254",  # cloud metadata
    "fd00:ec2::254",  # the IPv6 metadata address
    "64:ff9b::",  # NAT64 of 0.0.0.0
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
    "64:ff9b:1::808:808",  # local-use NAT64
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "fe80::1",
    "fc00::1",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",
    "192.0.2.1",  # documentation
]
ALLOWED = [
    "8.8.8.8",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::",
]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused_in_every_form(address: str) -> None:
    guard = Guard()
    assert not guard.allowed(address)
    with pytest.raises(BlockedAddress):
        guard.check_address(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert Guard().allowed(address)


def test_the_allow_list_opens_exactly_its_networks() -> None:
    guard = Guard.from_config({"MSP_OUTBOUND_ALLOW": ["127.0.0.0/8", "::1"]})
    assert guard.allowed("127.0.0.1") and guard.allowed("::ffff:127.0.0.1") and guard.allowed("::1")
    assert not guard.allowed("10.0.0.1") and not guard.allowed("169.254.169.254")
    assert Guard.from_config({"MSP_OUTBOUND_ALLOW": "10.0.0.0/8"}).allowed("10.9.9.9")
    labs = Guard.from_config({"MSP_WEBHOOK_ALLOW_PRIVATE": True})
    assert labs.allowed("10.0.0.1") and labs.allowed("127.0.0.1")
    assert not labs.allowed("169.254.169.254")  # the metadata service only by explicit CIDR


def test_a_host_with_one_refused_address_is_refused() -> None:
    answers = {"mixed.test": ["8.8.8.8", "127.0.0.1"], "public.test": ["8.8.4.4", "8.8.8.8"]}
    guard = Guard(resolver=lambda host, _port: answers[host])
    assert guard.check_host("public.test", 993) == ["8.8.4.4", "8.8.8.8"]
    with pytest.raises(BlockedAddress, match=r"mixed\.test"):
        guard.check_host("mixed.test", 993)
    with pytest.raises(BlockedAddress):
        guard.check_host("[::ffff:169.254.169.254]", 80)


class _Banner:
    """A TCP server on loopback that says something secret and counts who connected."""

    def __init__(self, banner: bytes) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.banner = banner
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                conn.sendall(self.banner)


@pytest.fixture
def banner_server() -> Iterator[_Banner]:
    server = _Banner(b"+OK internal-redis-7.2 secret banner\r\n")
    yield server
    server.sock.close()


def _mailbox_at(host: str, port: int) -> Any:
    tenant = make_tenant("ssrf")
    return mailboxes.create_mailbox(
        tenant.id,
        {
            "name": "probe",
            "host": host,
            "port": port,
            "tls": "none",
            "username": "u",
            "password": "p",
        },
    )


def test_a_mailbox_on_loopback_is_refused_before_any_connection(
    db_session: Any, reports_config: dict[str, Any], banner_server: _Banner
) -> None:
    reports_config["MSP_OUTBOUND_ALLOW"] = None
    box = _mailbox_at("127.0.0.1", banner_server.port)
    result = mailboxes.poll(box.id, now=datetime.now(UTC))
    assert result.error == "blocked_address: " + imap.KINDS["blocked_address"]
    assert box.last_error == result.error and banner_server.accepted == 0
    for host in ("::ffff:127.0.0.1", "169.254.169.254", "64:ff9b::7f00:1", "localhost"):
        cfg = imap.MailboxConfig(host=host, port=banner_server.port, username="u", password="p")
        with pytest.raises(imap.MailboxError) as info:
            imap.fetch_batch(cfg, max_messages=1, max_bytes=1000)
        assert info.value.kind == "blocked_address", host
    assert banner_server.accepted == 0


def test_what_an_allowed_server_says_never_reaches_the_tenant(
    db_session: Any,
    reports_config: dict[str, Any],
    banner_server: _Banner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    box = _mailbox_at("127.0.0.1", banner_server.port)  # loopback allow-listed by the fixture
    result = mailboxes.poll(box.id, now=datetime.now(UTC))
    assert banner_server.accepted == 1
    assert result.error in {f"{kind}: {text}" for kind, text in imap.KINDS.items()}
    assert "secret" not in (box.last_error or "") and "redis" not in (box.last_error or "")
    assert f"127.0.0.1:{banner_server.port}" in caplog.text  # the detail: the server log


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = (self.headers.get("Host") or "").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        return


def test_the_httpx_transport_goes_only_to_checked_addresses() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    resolve = {"hooks.test": ["127.0.0.1"]}
    try:
        strict = Guard(resolver=lambda host, _port: resolve[host])
        with (
            httpx.Client(transport=strict.transport(), trust_env=False) as client,
            pytest.raises(BlockedAddress),
        ):
            client.get(f"http://hooks.test:{port}/")
        allowed = Guard(allow=parse_networks(["127.0.0.1"]), resolver=strict.resolver)
        with httpx.Client(transport=allowed.transport(), trust_env=False) as client:
            response = client.get(f"http://hooks.test:{port}/")
        assert response.status_code == 200 and response.text == f"hooks.test:{port}"
    finally:
        server.shutdown()
        server.server_close()
