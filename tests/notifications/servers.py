"""Real receivers for notification tests: an SMTP server (aiosmtpd) and an HTTP server that
records webhook POSTs and answers with a scripted sequence of status codes."""

from __future__ import annotations

import json
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

from tests.support.net import free_port


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


SLACK_PATH = "/services/T000/B000/XXXX"
TEAMS_PATH = "/workflows/abc/triggers/manual/paths/invoke"
ADAPTIVE = "application/vnd.microsoft.card.adaptive"


def slack_problem(path: str, payload: Any) -> tuple[int, str] | None:
    """What Slack answers to a payload it refuses (its documented errors), None if fine."""
    if path != SLACK_PATH:
        return 404, "no_service"
    if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
        return 400, "invalid_payload"
    blocks = payload.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        return 400, "invalid_blocks"
    for block in blocks:
        if not isinstance(block, dict) or not block.get("type"):
            return 400, "invalid_blocks"
        text = block.get("text")
        if block["type"] == "header" and (
            text.get("type") != "plain_text" or not 0 < len(text.get("text", "")) <= 150
        ):
            return 400, "invalid_blocks"
        if block["type"] == "section" and len(text.get("text", "")) > 3000:
            return 400, "invalid_blocks"
        for element in block.get("elements", []):
            if element.get("type") == "button" and not element.get("url", "").startswith("http"):
                return 400, "invalid_blocks"
    return None


def teams_problem(path: str, payload: Any) -> str | None:
    """Why a Teams Workflows trigger refuses a payload (None: accepted)."""
    if path != TEAMS_PATH:
        return "unknown workflow"
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return "type must be message"
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "no attachments"
    for attachment in attachments:
        content = attachment.get("content") or {}
        if attachment.get("contentType") != ADAPTIVE:
            return f"contentType {attachment.get('contentType')!r}"
        if content.get("type") != "AdaptiveCard" or not content.get("$schema"):
            return "content is not an AdaptiveCard with a $schema"
        if content.get("version") not in {"1.0", "1.1", "1.2", "1.3", "1.4", "1.5"}:
            return f"version {content.get('version')!r}"
        if not isinstance(content.get("body"), list) or not content["body"]:
            return "body must be a non-empty list"
        if any(not isinstance(e, dict) or not e.get("type") for e in content["body"]):
            return "every body element needs a type"
    return None


@dataclass
class ChatHook:
    """A Slack or Teams stand-in: validates payload shapes, records what it accepted."""

    kind: str
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


def _chat_handler(hook: ChatHook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = None
            status, body = self._judge(payload)
            if status >= 300:
                hook.refused.append((status, body))
            else:
                hook.received.append(payload)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def _judge(self, payload: Any) -> tuple[int, str]:
            if hook.kind == "slack":
                problem = slack_problem(self.path, payload)
                return problem if problem else (200, "ok")
            reason = teams_problem(self.path, payload)
            return (400, reason) if reason else (202, "")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def chat_server(kind: str) -> Iterator[ChatHook]:
    """A Slack (``kind="slack"``) or Teams (``"teams"``) receiver on 127.0.0.1."""
    hook = ChatHook(kind)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _chat_handler(hook))
    path = SLACK_PATH if kind == "slack" else TEAMS_PATH
    hook.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
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
