"""A real Dovecot IMAP server on a free loopback port, in a temp dir (pytest fixture helper).

Runs as ``nobody`` when the tests run as root (Dovecot refuses root login processes). Each
instance has its own port, base dir and instance name, so parallel test runs do not collide.
Given a certificate chain and key (PEM, e.g. from ``trustme``), it also speaks TLS: STARTTLS on
the IMAP port and implicit TLS (IMAPS) on ``tls_port``.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.net import free_port

USER = "dmarc"
PASSWORD = "secret"


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    user: str
    password: str
    base_dir: str
    tls_port: int | None = None


@dataclass(frozen=True)
class TlsFiles:
    """The server's certificate chain and private key, PEM."""

    cert_chain: bytes
    key: bytes


def _ssl_config(base: str, tls_port: int | None) -> tuple[str, str]:
    """The ``ssl`` settings and the imaps listener body (port 0: no listener)."""
    if tls_port is None:
        return "ssl = no", "port = 0"
    settings = f"ssl = yes\nssl_cert = <{base}/tls/cert.pem\nssl_key = <{base}/tls/key.pem"
    return settings, f"address = 127.0.0.1\n  port = {tls_port}\n  ssl = yes"


def _config(base: str, port: int, user: str, group: str, tls_port: int | None = None) -> str:
    ssl_settings, imaps = _ssl_config(base, tls_port)
    return (
        textwrap.dedent(
            f"""\
        base_dir = {base}/run
        state_dir = {base}/state
        log_path = {base}/dovecot.log
        instance_name = pytest-imap-{os.getpid()}-{port}
        protocols = imap
        listen = 127.0.0.1
        @SSL@
        disable_plaintext_auth = no
        auth_mechanisms = plain login
        default_internal_user = {user}
        default_internal_group = {group}
        default_login_user = {user}
        first_valid_uid = 0
        passdb {{
          driver = passwd-file
          args = scheme=PLAIN username_format=%u {base}/users
        }}
        userdb {{
          driver = static
          args = uid={user} gid={group} home={base}/mail/%u
        }}
        mail_location = maildir:~/Maildir
        service imap-login {{
          chroot =
          inet_listener imap {{
            address = 127.0.0.1
            port = {port}
          }}
          inet_listener imaps {{
            @IMAPS@
          }}
        }}
        service anvil {{
          chroot =
        }}
        service stats {{
          unix_listener stats-reader {{
            user = {user}
          }}
          unix_listener stats-writer {{
            user = {user}
          }}
        }}
        """
        )
        .replace("@SSL@", ssl_settings)
        .replace("@IMAPS@", imaps)
    )


def _wait_ready(proc: subprocess.Popen[bytes], port: int, base: str) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log_path = Path(base, "dovecot.log")
                log = log_path.read_text() if log_path.exists() else ""
                raise RuntimeError(f"dovecot failed to start: {log[-2000:]}") from None
            time.sleep(0.05)


def _write_tls(base: str, tls: TlsFiles) -> None:
    os.makedirs(f"{base}/tls")
    Path(base, "tls", "cert.pem").write_bytes(tls.cert_chain)
    key = Path(base, "tls", "key.pem")
    key.write_bytes(tls.key)
    key.chmod(0o600)


@contextmanager
def running_imap_server(tls: TlsFiles | None = None) -> Iterator[ImapServer]:
    base = tempfile.mkdtemp(prefix="imap-")
    port = free_port()
    tls_port = free_port() if tls is not None else None
    for sub in ("run", "state", "mail"):
        os.makedirs(f"{base}/{sub}")
    if tls is not None:
        _write_tls(base, tls)
    with open(f"{base}/users", "w") as handle:
        handle.write(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    as_user: dict[str, object] = {}
    if os.geteuid() == 0:
        account = pwd.getpwnam("nobody")
        group = grp.getgrgid(account.pw_gid).gr_name
        os.chmod(base, 0o755)
        for root, dirs, names in os.walk(base):
            for name in dirs + names:
                os.chown(os.path.join(root, name), account.pw_uid, account.pw_gid)
        os.chown(base, account.pw_uid, account.pw_gid)
        user_name = "nobody"
        as_user = {"user": "nobody", "group": group, "extra_groups": []}
    else:
        user_name = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
    with open(f"{base}/dovecot.conf", "w") as handle:
        handle.write(_config(base, port, user_name, group, tls_port))
    if os.geteuid() == 0:
        os.chown(f"{base}/dovecot.conf", pwd.getpwnam("nobody").pw_uid, -1)
    proc = subprocess.Popen(["dovecot", "-F", "-c", f"{base}/dovecot.conf"], **as_user)  # type: ignore[call-overload]
    try:
        _wait_ready(proc, port, base)
        yield ImapServer("127.0.0.1", port, USER, PASSWORD, base, tls_port)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(base, ignore_errors=True)
