"""Real receivers for notification tests: an SMTP server (aiosmtpd) and an HTTP server that
records webhook POSTs and answers with a scripted sequence of status codes."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MailSink:
    """What the SMTP server received: (envelope sender, recipients, parsed message)."""

    port: int = 0
    received: list[tuple[str, list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))
        )
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(
    tls_context: ssl.SSLContext | None = None, login: tuple[str, str] | None = None
) -> Iterator[MailSink]:
    """An SMTP server; with ``tls_context`` it requires STARTTLS, with ``login`` AUTH too."""
    sink = MailSink(port=free_port())
    options: dict[str, Any] = {}
    if tls_context is not None:
        options.update(tls_context=tls_context, require_starttls=True)
    if login is not None:
        options.update(authenticator=_authenticator(*login), auth_require_tls=True)
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, **options)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def _authenticator(user: str, password: str) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)

    return check


@dataclass
class Hook:
    """A webhook receiver: records each POST, answers from ``statuses`` (then 200)."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200


def _handler(hook: Hook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = hook.next_status()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", hook.url + "/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def webhook_server(
    path: str = "/hook", tls_context: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> Iterator[Hook]:
    """An HTTP receiver; with ``tls_context`` it speaks HTTPS and its URL names ``host``."""
    hook = Hook()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hook))
    scheme = "http"
    if tls_context is not None:
        server.socket = tls_context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    hook.url = f"{scheme}://{host}:{server.server_address[1]}{path}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
