"""IMAP mailbox access for report collection: fetch a bounded batch, later archive by UID.

Owns the IMAP conversation only (stdlib ``imaplib``): connect with TLS, STARTTLS or plain (for
loopback tests), log in, list and fetch messages, and move processed ones to an archive folder.
Each call opens and closes its own connection, so no connection is ever held while reports
are parsed. Errors are raised as :class:`MailboxError` for the back-off logic.

A tenant chooses the host, so every connection goes through :mod:`msp.netguard`: the host's
resolved addresses are checked and the socket is opened to the checked address, while TLS (and
STARTTLS) still verify the certificate against the host name. A :class:`MailboxError`'s
``kind`` is one of :data:`KINDS`, and :attr:`MailboxError.public` is the only text shown to
tenants; the exception's message (which may quote the server) is for the server log only.

TLS (implicit or STARTTLS) always verifies the server's certificate and host name, against the
system trust store or, when ``ca_file`` is set, against that bundle instead. A refused
certificate is a ``tls`` error that says why; ``starttls`` never falls back to plaintext.
"""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Literal

from msp.netguard import BlockedAddress, Guard

TlsMode = Literal["tls", "starttls", "none"]

# What a tenant may read about a failure: fixed words, never the remote server's.
KINDS = {
    "refused": "the mailbox server could not be reached",
    "timeout": "the mailbox server did not answer in time",
    "tls": "the TLS connection failed (certificate or STARTTLS)",
    "auth": "the login was refused",
    "protocol": "the server's IMAP answer was not understood or refused",
    "blocked_address": "the host resolves to an address this service may not connect to",
}


class MailboxError(Exception):
    """The mailbox could not be read; ``kind`` is one of :data:`KINDS`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        assert kind in KINDS, kind
        self.kind = kind

    @property
    def public(self) -> str:
        """The category and its fixed explanation, for tenants (``last_error``, events)."""
        return f"{self.kind}: {KINDS[self.kind]}"


@dataclass(frozen=True)
class MailboxConfig:
    host: str
    port: int
    username: str
    password: str
    tls: TlsMode = "tls"
    folder: str = "INBOX"
    archive_folder: str = "Archive"
    timeout: float = 30.0
    ca_file: str | None = None
    guard: Guard = field(default_factory=Guard)


@dataclass(frozen=True)
class FetchedMessage:
    uid: str
    data: bytes


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tls_context(cfg: MailboxConfig) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=cfg.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise MailboxError("tls", f"cannot load the CA bundle {cfg.ca_file}: {exc}") from exc


def _starttls(conn: imaplib.IMAP4, cfg: MailboxConfig, context: ssl.SSLContext) -> None:
    try:
        if "STARTTLS" not in conn.capabilities:
            raise MailboxError("tls", f"{cfg.host}:{cfg.port} does not offer STARTTLS")
        conn.starttls(ssl_context=context)
    except BaseException:
        with suppress(OSError):
            conn.shutdown()
        raise


class _GuardedIMAP4(imaplib.IMAP4):
    """IMAP over a socket to an address the guard checked (``self.host`` stays the name)."""

    def __init__(self, host: str, port: int, guard: Guard, timeout: float) -> None:
        self._guard = guard
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return self._guard.connect(self.host, self.port, timeout)


class _GuardedIMAP4_SSL(imaplib.IMAP4_SSL):
    """Implicit TLS to a checked address; the certificate is verified against the host name."""

    def __init__(
        self, host: str, port: int, guard: Guard, context: ssl.SSLContext, timeout: float
    ) -> None:
        self._guard = guard
        super().__init__(host, port, ssl_context=context, timeout=timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = self._guard.connect(self.host, self.port, timeout)
        wrapped: socket.socket = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
        return wrapped


def _connect(cfg: MailboxConfig) -> imaplib.IMAP4:
    context = _tls_context(cfg)
    if cfg.tls == "tls":
        return _GuardedIMAP4_SSL(cfg.host, cfg.port, cfg.guard, context, cfg.timeout)
    conn = _GuardedIMAP4(cfg.host, cfg.port, cfg.guard, cfg.timeout)
    if cfg.tls == "starttls":
        _starttls(conn, cfg, context)
    return conn


def _connect_error(cfg: MailboxConfig, exc: BaseException) -> MailboxError:
    where = f"{cfg.host}:{cfg.port}"
    if isinstance(exc, BlockedAddress):
        return MailboxError("blocked_address", str(exc))
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc
        return MailboxError("tls", f"certificate of {where} refused: {detail}")
    if isinstance(exc, ssl.SSLError):
        return MailboxError("tls", f"TLS with {where} failed: {exc}")
    if isinstance(exc, TimeoutError):
        return MailboxError("timeout", f"{where} timed out: {exc}")
    if isinstance(exc, imaplib.IMAP4.error):
        return MailboxError("protocol", f"{where} greeted oddly: {exc}")
    return MailboxError("refused", f"cannot connect to {where}: {exc}")


@contextmanager
def session(cfg: MailboxConfig) -> Iterator[imaplib.IMAP4]:
    """A logged-in connection, closed afterwards; failures become :class:`MailboxError`."""
    try:
        conn = _connect(cfg)
    except (BlockedAddress, OSError, imaplib.IMAP4.error) as exc:
        raise _connect_error(cfg, exc) from exc
    try:
        try:
            conn.login(cfg.username, cfg.password)
        except imaplib.IMAP4.error as exc:
            raise MailboxError("auth", f"login failed for {cfg.username}: {exc}") from exc
        yield conn
    except TimeoutError as exc:
        raise MailboxError("timeout", f"{cfg.host} stopped answering: {exc}") from exc
    except (OSError, imaplib.IMAP4.abort) as exc:
        raise MailboxError("refused", f"connection to {cfg.host} lost: {exc}") from exc
    except imaplib.IMAP4.error as exc:
        raise MailboxError("protocol", str(exc)) from exc
    finally:
        with suppress(OSError, imaplib.IMAP4.error):
            conn.logout()


def _select(conn: imaplib.IMAP4, folder: str) -> None:
    status, data = conn.select(_quote(folder))
    if status != "OK":
        raise MailboxError("protocol", f"cannot select {folder}: {data!r}")


def fetch_batch(cfg: MailboxConfig, *, max_messages: int, max_bytes: int) -> list[FetchedMessage]:
    """Fetch up to ``max_messages`` messages (skipping ones over ``max_bytes``) by UID."""
    out: list[FetchedMessage] = []
    with session(cfg) as conn:
        _select(conn, cfg.folder)
        _status, data = conn.uid("SEARCH", "NOT", "DELETED")
        uids = [u.decode() for u in (data[0] or b"").split()][:max_messages]
        for uid in uids:
            message = _fetch_one(conn, uid, max_bytes)
            if message is not None:
                out.append(message)
    return out


def _fetch_one(conn: imaplib.IMAP4, uid: str, max_bytes: int) -> FetchedMessage | None:
    _status, sizes = conn.uid("FETCH", uid, "(RFC822.SIZE)")
    match = re.search(rb"RFC822\.SIZE (\d+)", sizes[0] if isinstance(sizes[0], bytes) else b"")
    if match and int(match.group(1)) > max_bytes:
        return FetchedMessage(uid=uid, data=b"")
    _status, parts = conn.uid("FETCH", uid, "(BODY.PEEK[])")
    for part in parts:
        if isinstance(part, tuple) and len(part) == 2:
            return FetchedMessage(uid=uid, data=bytes(part[1]))
    return None


def archive(cfg: MailboxConfig, uids: Iterable[str]) -> int:
    """Move the given UIDs to the archive folder (created if needed); return how many moved."""
    wanted = [u for u in uids if u]
    if not wanted:
        return 0
    with session(cfg) as conn:
        conn.create(_quote(cfg.archive_folder))  # "already exists" is a harmless NO
        _select(conn, cfg.folder)
        uid_set = ",".join(wanted)
        if "MOVE" in conn.capabilities:
            status, _ = conn.uid("MOVE", uid_set, _quote(cfg.archive_folder))
        else:
            status, _ = conn.uid("COPY", uid_set, _quote(cfg.archive_folder))
            if status == "OK":
                conn.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)")
                conn.expunge()
        if status != "OK":
            raise MailboxError("protocol", f"cannot move messages to {cfg.archive_folder}")
    return len(wanted)
