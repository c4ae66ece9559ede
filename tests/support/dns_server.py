"""A real authoritative DNS server (knot) for tests: serves zones a test writes, on a free port.

Usage::

    with KnotServer({"example.test": zone("example.test", ['@ TXT "v=spf1 -all"'])}) as ns:
        ns.nameserver            # "127.0.0.1:PORT"
        ns.set_zone("example.test", new_text); ns.reload()

``zone()`` adds the SOA and NS records, so a test writes only the records it cares about. Any
name outside the served zones gets REFUSED (a DNS error), as from a real authoritative server.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.message
import dns.query

# knot needs the port free for UDP and TCP; re-exported under the old name for callers.
from tests.support.net import free_udp_tcp_port as free_port

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KNOTC = shutil.which("knotc") or "/usr/sbin/knotc"


def zone(origin: str, records: Iterable[str], ttl: int = 300, serial: int = 1) -> str:
    """Zone file text for ``origin`` with SOA and NS added; records are zone-file lines."""
    lines = [
        f"$ORIGIN {origin}.",
        f"$TTL {ttl}",
        f"@ IN SOA ns1.{origin}. hostmaster.{origin}. ( {serial} 3600 600 86400 300 )",
        f"@ IN NS ns1.{origin}.",
        "ns1 IN A 127.0.0.1",
    ]
    lines.extend(records)
    return "\n".join(lines) + "\n"


def txt(value: str) -> str:
    """TXT rdata split into 255-byte strings (RFC 1035 3.3)."""
    parts = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in parts)


class KnotServer:
    """knotd in a temp dir; a context manager. ``zones`` maps origin -> zone text."""

    def __init__(self, zones: dict[str, str], extra_conf: str = "") -> None:
        self.zones = dict(zones)
        self.extra_conf = extra_conf
        self.dir = Path(tempfile.mkdtemp(prefix="knot-"))
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def conf(self) -> Path:
        return self.dir / "knot.conf"

    def __enter__(self) -> KnotServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _write(self) -> None:
        (self.dir / "run").mkdir(exist_ok=True)
        (self.dir / "db").mkdir(exist_ok=True)
        for origin, text in self.zones.items():
            (self.dir / f"{origin}.zone").write_text(text)
        zones = "\n".join(f"  - domain: {origin}" for origin in sorted(self.zones))
        self.conf.write_text(
            f'server:\n    rundir: "{self.dir}/run"\n    listen: 127.0.0.1@{self.port}\n'
            f"    udp-workers: 2\n    tcp-workers: 1\n    background-workers: 1\n"
            f'log:\n  - target: "{self.dir}/knot.log"\n    any: info\n'
            f'database:\n    storage: "{self.dir}/db"\n{self.extra_conf}'
            f'template:\n  - id: default\n    storage: "{self.dir}"\n    file: "%s.zone"\n'
            f"    semantic-checks: off\n    zonefile-sync: -1\n    journal-content: none\n"
            f"zone:\n{zones}\n"
        )

    def start(self, attempts: int = 5) -> None:
        for _ in range(attempts):
            self.port = free_port()
            self._write()
            self.proc = subprocess.Popen(
                [KNOTD, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            if self._wait_ready():
                return
            self.stop(remove=False)
        raise RuntimeError(f"knotd did not start; see {self.dir}/knot.log")

    def _wait_ready(self, timeout: float = 10.0) -> bool:
        origin = sorted(self.zones)[0]
        query = dns.message.make_query(f"{origin}.", "SOA")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                if dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.1).answer:
                    return True
            except (dns.exception.DNSException, OSError):
                time.sleep(0.02)
        return False

    def set_zone(self, origin: str, text: str) -> None:
        """Replace a zone's text (bump its SOA serial), then call :meth:`reload`."""
        self.zones[origin] = text
        (self.dir / f"{origin}.zone").write_text(text)

    def reload(self) -> None:
        """Make knot re-read every zone file, and wait until it serves the new serials."""
        subprocess.run(
            [KNOTC, "-c", str(self.conf), "reload"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
        )
        for origin, text in self.zones.items():
            self._wait_serial(origin, _serial(text))

    def _wait_serial(self, origin: str, serial: int | None, timeout: float = 10.0) -> None:
        if serial is None:
            return
        query = dns.message.make_query(f"{origin}.", "SOA")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            response = dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.5)
            if response.answer and response.answer[0][0].serial == serial:
                return
            time.sleep(0.02)
        raise RuntimeError(f"{origin} not reloaded to serial {serial}")

    def stop(self, remove: bool = True) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)


def _serial(text: str) -> int | None:
    for line in text.splitlines():
        if " SOA " in line and "(" in line:
            return int(line.split("(")[1].split()[0])
    return None


__all__ = ["KnotServer", "free_port", "txt", "zone"]
