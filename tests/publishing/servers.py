"""Real DNS servers and provider stand-ins on 127.0.0.1 for the publishing tests.

- :class:`TsigKnot`: knot accepting RFC 2136 updates signed with a TSIG key (any zone it serves);
- :class:`PowerDns`: PowerDNS Authoritative (sqlite3 backend) with its HTTP API;
- :class:`Route53Server`: moto's threaded server (boto3 reaches it by ``endpoint_url``);
- :class:`CloudflareStandIn`: a small v4-API server (the SDK reaches it by ``base_url``).

Each writes only in a temp dir and answers DNS queries, so the DNS checker can be pointed at
the same server the provider writes to.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import dns.message
import dns.query
import httpx

from tests.support.dns_server import KnotServer, free_port, zone

TSIG_NAME = "msp-ddns"
TSIG_SECRET = base64.b64encode(b"publishing-tests-tsig-secret-32b").decode()
PDNS_KEY = "pdns-test-api-key"
CF_TOKEN = "cf-test-token"
PDNS_SCHEMA = "/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql"


class TsigKnot(KnotServer):
    """knotd that accepts dynamic updates signed with :data:`TSIG_NAME` for every zone."""

    def _write(self) -> None:
        super()._write()
        text = self.conf.read_text()
        key = (
            f"key:\n  - id: {TSIG_NAME}\n    algorithm: hmac-sha256\n    secret: {TSIG_SECRET}\n"
            f"acl:\n  - id: ddns\n    address: 127.0.0.1\n    key: {TSIG_NAME}\n"
            f"    action: update\n"
        )
        text = text.replace("template:\n", key + "template:\n", 1)
        text = text.replace(
            "    journal-content: none\n", "    journal-content: none\n    acl: ddns\n"
        )
        self.conf.write_text(text)

    def options(self) -> dict[str, str]:
        return {"server": self.nameserver, "tsig_name": TSIG_NAME, "tsig_secret": TSIG_SECRET}


def _wait_dns(port: int, origin: str, proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    query = dns.message.make_query(f"{origin}.", "SOA")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if dns.query.udp(query, "127.0.0.1", port=port, timeout=0.2).answer:
                return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError("DNS server not ready")


class PowerDns:
    """pdns_server in a temp dir with the HTTP API; zones are created through the API."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pdns-"))
        os.chmod(self.dir, 0o755)
        self.port = 0
        self.api_port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def options(self) -> dict[str, str]:
        return {"api_url": self.api_url, "api_key": PDNS_KEY}

    def start(self) -> PowerDns:
        database = self.dir / "pdns.sqlite3"
        with sqlite3.connect(database) as conn:
            conn.executescript(Path(PDNS_SCHEMA).read_text())
        self.port, self.api_port = free_port(), free_port()
        (self.dir / "pdns.conf").write_text(
            f"launch=gsqlite3\ngsqlite3-database={database}\nlocal-address=127.0.0.1\n"
            f"local-port={self.port}\nsocket-dir={self.dir}\ndaemon=no\nguardian=no\n"
            "disable-syslog=yes\nsecurity-poll-suffix=\napi=yes\n"
            f"api-key={PDNS_KEY}\nwebserver=yes\nwebserver-address=127.0.0.1\n"
            f"webserver-port={self.api_port}\nwebserver-allow-from=127.0.0.1\n"
            "default-soa-content=ns1.@ hostmaster.@ 0 3600 600 86400 300\n"
        )
        with open(self.dir / "pdns.log", "wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                ["pdns_server", f"--config-dir={self.dir}"], stdout=log, stderr=subprocess.STDOUT
            )
        self.add_zone("ready.test", [])
        _wait_dns(self.port, "ready.test", self.proc)
        return self

    def _api(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.api_url}/api/v1/servers/localhost",
            headers={"X-API-Key": PDNS_KEY},
            timeout=5,
        )

    def add_zone(self, origin: str, rrsets: Iterable[tuple[str, str, list[str]]]) -> None:
        """Create ``origin`` with (name, type, [zone-file contents]) RRsets."""
        body = {
            "name": f"{origin}.",
            "kind": "Native",
            "nameservers": [f"ns1.{origin}."],
            "rrsets": [
                {
                    "name": f"{name}.",
                    "type": rtype,
                    "ttl": 300,
                    "records": [{"content": c, "disabled": False} for c in contents],
                }
                for name, rtype, contents in rrsets
            ],
        }
        end = time.monotonic() + 15
        while True:
            try:
                with self._api() as api:
                    response = api.post("/zones", json=body)
                break
            except httpx.TransportError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        if response.status_code != 201:
            raise RuntimeError(f"pdns zone {origin}: {response.status_code} {response.text}")

    def set_rrset(self, origin: str, name: str, rtype: str, contents: list[str]) -> None:
        """A hand edit through the API (replace the RRset)."""
        with self._api() as api:
            response = api.patch(
                f"/zones/{origin}.",
                json={
                    "rrsets": [
                        {
                            "name": f"{name}.",
                            "type": rtype,
                            "ttl": 300,
                            "changetype": "REPLACE",
                            "records": [{"content": c, "disabled": False} for c in contents],
                        }
                    ]
                },
            )
        response.raise_for_status()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


class Route53Server:
    """moto's threaded server for Route 53 on a free port; ``endpoint`` is its URL."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def options(self) -> dict[str, str]:
        return {
            "access_key_id": "testing",
            "secret_access_key": "testing",
            "endpoint_url": self.endpoint,
        }

    def stop(self) -> None:
        self.server.stop()


class _CloudflareHandler(BaseHTTPRequestHandler):
    zones: list[dict[str, Any]]
    records: dict[str, dict[str, Any]]
    calls: list[tuple[str, str]]

    def reply(
        self, code: int, result: Any = None, errors: tuple[Any, ...] = (), info: Any = None
    ) -> None:
        body: dict[str, Any] = {
            "success": code < 400,
            "errors": list(errors),
            "messages": [],
            "result": result,
        }
        if info:
            body["result_info"] = info
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _page(self, rows: list[dict[str, Any]], query: dict[str, str]) -> None:
        page, per = int(query.get("page", 1)), int(query.get("per_page", 100))
        chunk = rows[(page - 1) * per : page * per]
        info = {"page": page, "per_page": per, "count": len(chunk), "total_count": len(rows)}
        self.reply(200, chunk, info=info | {"total_pages": max(1, -(-len(rows) // per))})

    def handle_any(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        self.calls.append((self.command, url.path))
        if self.headers.get("Authorization") != f"Bearer {CF_TOKEN}":
            self.reply(403, errors=({"code": 10000, "message": "Authentication error"},))
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        match = re.fullmatch(r"/client/v4/zones(?:/(\w+)/dns_records(?:/(\w+))?)?", url.path)
        zone_id, record_id = match.groups() if match else (None, None)
        now = datetime.datetime.now(datetime.UTC).isoformat()
        if match and not zone_id and self.command == "GET":
            self._page([z for z in self.zones if query.get("name") in (None, z["name"])], query)
        elif match and zone_id and not record_id and self.command == "GET":
            name = query.get("name.exact", query.get("name"))
            rows = [
                r
                for r in self.records.values()
                if r["zone_id"] == zone_id
                and query.get("type") in (None, r["type"])
                and name in (None, r["name"])
            ]
            self._page(rows, query)
        elif match and zone_id and not record_id and self.command == "POST":
            record_id = uuid.uuid4().hex
            self.records[record_id] = {
                "proxiable": False,
                "proxied": False,
                "meta": {},
                "created_on": now,
                **body,
                "id": record_id,
                "zone_id": zone_id,
                "modified_on": now,
            }
            self.reply(200, self.records[record_id])
        elif record_id in self.records and self.command == "DELETE":
            del self.records[record_id]
            self.reply(200, {"id": record_id})
        else:
            self.reply(404, errors=({"code": 81044, "message": "Record does not exist."},))

    do_GET = do_POST = do_DELETE = handle_any

    def log_message(self, format: str, *args: object) -> None:
        return


class CloudflareStandIn:
    """The Cloudflare v4 API's zones and dns_records, in memory."""

    def __init__(self) -> None:
        handler = type("Handler", (_CloudflareHandler,), {"zones": [], "records": {}, "calls": []})
        self.handler: type[_CloudflareHandler] = handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/client/v4"

    def options(self) -> dict[str, str]:
        return {"api_token": CF_TOKEN, "base_url": self.base_url}

    def add_zone(self, name: str) -> str:
        zone_id = uuid.uuid4().hex
        self.handler.zones.append({"id": zone_id, "name": name, "status": "active"})
        return zone_id

    def add_record(self, zone_id: str, name: str, rtype: str, content: str) -> None:
        record_id = uuid.uuid4().hex
        now = datetime.datetime.now(datetime.UTC).isoformat()
        self.handler.records[record_id] = {
            "id": record_id,
            "zone_id": zone_id,
            "name": name,
            "type": rtype,
            "content": content,
            "ttl": 300,
            "proxiable": False,
            "proxied": False,
            "meta": {},
            "created_on": now,
            "modified_on": now,
        }

    def values(self, name: str, rtype: str) -> list[str]:
        return sorted(
            r["content"]
            for r in self.handler.records.values()
            if r["name"] == name and r["type"] == rtype
        )

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


__all__ = [
    "CloudflareStandIn",
    "PowerDns",
    "Route53Server",
    "TsigKnot",
    "zone",
]
