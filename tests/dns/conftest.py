"""Fixtures of the dns tests: knot serving the fixture world, an HTTPS server for MTA-STS
policies and BIMI logos (its own CA via trustme), and ``check`` pointed at both."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from msp.dns.checker import DomainResult, check_domain
from msp.dns.http import HttpSettings
from msp.dns.options import CheckOptions
from msp.dns.resolver import Nameserver, ResolverSettings
from tests.dns.world import build_zones, https_names
from tests.support.dns_server import KnotServer

POLICY = "version: STSv1\r\nmode: {mode}\r\n{mx}max_age: {age}\r\n"
BOTH = "mx: mx1.{d}\r\nmx: mx2.{d}\r\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps"></svg>'


def _routes() -> dict[tuple[str, str], tuple[int, str, bytes, dict[str, str]]]:
    def policy(
        d: str, mode: str = "enforce", mx: str = BOTH, age: int = 1209600, ctype: str = "text/plain"
    ) -> tuple[int, str, bytes, dict[str, str]]:
        return 200, ctype, POLICY.format(mode=mode, mx=mx.format(d=d), age=age).encode(), {}

    path = "/.well-known/mta-sts.txt"
    routes = {
        ("mta-sts.sts-enforce.test", path): policy("sts-enforce.test"),
        ("mta-sts.sts-testing.test", path): policy("sts-testing.test", mode="testing"),
        ("mta-sts.sts-short.test", path): policy("sts-short.test", age=3600),
        ("mta-sts.sts-uncovered.test", path): policy("sts-uncovered.test", mx="mx: mx1.{d}\r\n"),
        ("mta-sts.sts-redirect.test", path): (
            301,
            "text/plain",
            b"",
            {"Location": "https://elsewhere.test/"},
        ),
        ("mta-sts.sts-badpolicy.test", path): (
            200,
            "text/plain",
            b"version: STSv2\r\nmode: enforcing\r\n",
            {},
        ),
        ("mta-sts.sts-badtype.test", path): policy("sts-badtype.test", ctype="text/html"),
        ("mta-sts.sts-wildcard.test", path): policy(
            "sts-wildcard.test", mx="mx: *.sts-wildcard.test\r\n"
        ),
    }
    for name in ("bimi-ok", "bimi-none", "bimi-sp", "bimi-pct"):
        routes[(f"logo.{name}.test", "/logo.svg")] = (200, "image/svg+xml", SVG, {})
    return routes


class _Handler(BaseHTTPRequestHandler):
    routes = _routes()

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        status, ctype, body, headers = self.routes.get(
            (host, self.path), (404, "text/plain", b"no", {})
        )
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@dataclass(frozen=True)
class HttpsServer:
    port: int
    ca_file: str


@pytest.fixture(scope="session")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsServer]:
    ca = trustme.CA()
    cert = ca.issue_cert(*https_names())
    ca_file = Path(tmp_path_factory.mktemp("ca")) / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpsServer(int(server.server_address[1]), str(ca_file))
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def knot() -> Iterator[KnotServer]:
    with KnotServer(build_zones("127.0.0.1")) as server:
        yield server


@pytest.fixture(scope="session")
def options(knot: KnotServer, https_server: HttpsServer) -> CheckOptions:
    return CheckOptions(
        resolver=ResolverSettings((Nameserver.parse(knot.nameserver),), timeout=1.0, retries=1),
        http=HttpSettings(
            allow_private=True, ca_bundle=https_server.ca_file, port=https_server.port, timeout=3.0
        ),
    )


@pytest.fixture(scope="session")
def check(options: CheckOptions) -> Callable[..., DomainResult]:
    def run(domain: str, selectors: tuple[str, ...] = (), **changes: object) -> DomainResult:
        opts = options if not changes else _replace(options, **changes)
        return check_domain(domain, opts, selectors=selectors)

    return run


def _replace(options: CheckOptions, **changes: object) -> CheckOptions:
    from dataclasses import replace

    return replace(options, **changes)  # type: ignore[arg-type]


def codes(result: DomainResult) -> set[str]:
    return {f.code for f in result.findings}
