"""Loopback ports for the real servers the tests start: the one copy of ``free_port``.

A free port is only free when asked; a server that binds it later can lose it to another
process. Tests on this machine run in parallel sessions, so callers bind promptly.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port nobody listens on at the moment, on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def free_udp_tcp_port(attempts: int = 50) -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (a DNS server such as knot needs both)."""
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((HOST, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((HOST, port))
                except OSError:
                    # The TCP side is taken: draw another UDP port.
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


@contextmanager
def silent_udp_port() -> Iterator[int]:
    """A UDP port on 127.0.0.1 that receives and never answers (a name server that times out),
    held for the block."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        yield int(sock.getsockname()[1])


__all__ = ["HOST", "free_port", "free_udp_tcp_port", "silent_udp_port"]
