"""A local stand-in for the few Stripe endpoints billing calls, on a free loopback port.

It answers JSON objects with an ``object`` field (so the SDK builds typed objects), keeps
customers and subscriptions in memory, honours ``Idempotency-Key`` like Stripe (same key, same
answer), records every request, and can be told to fail the next requests.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

PERIOD_SECONDS = 30 * 86400


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, str]


@dataclass
class StandinState:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    meter_events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    idempotent: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    subscription_status: str = "active"
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def posts(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]


def _error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


def subscription_object(
    sub_id: str, customer: str, price: str, status: str, metadata: dict[str, str], period_end: int
) -> dict[str, Any]:
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": False,
        "metadata": metadata,
        "items": {
            "object": "list",
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub_id}",
            "data": [
                {
                    "id": f"si_{sub_id[4:]}",
                    "object": "subscription_item",
                    "price": {"id": price, "object": "price"},
                    "current_period_start": period_end - PERIOD_SECONDS,
                    "current_period_end": period_end,
                }
            ],
        },
    }


def _metadata(params: dict[str, str]) -> dict[str, str]:
    return {k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        params = dict(parse_qsl(body, keep_blank_values=True))
        state = self.server.state
        with state.lock:
            state.requests.append(Recorded(method, self.path, dict(self.headers.items()), params))
            status, answer = self._answer(method, params, state)
        raw = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Request-Id", f"req_{len(state.requests)}")
        self.end_headers()
        self.wfile.write(raw)

    def _answer(
        self, method: str, params: dict[str, str], state: StandinState
    ) -> tuple[int, dict[str, Any]]:
        if not self.headers.get("Authorization", "").startswith("Bearer sk_test_"):
            return 401, _error("Invalid API Key provided", "invalid_request_error")
        if state.failures:
            return state.failures.pop(0)
        key = self.headers.get("Idempotency-Key")
        if method == "POST" and key and key in state.idempotent:
            return state.idempotent[key]
        result = self._route(method, params, state)
        if method == "POST" and key and result[0] < 500:
            state.idempotent[key] = result
        return result

    def _route(
        self, method: str, params: dict[str, str], state: StandinState
    ) -> tuple[int, dict[str, Any]]:
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v1/customers":
            cus_id = f"cus_{next(state.ids)}"
            cus: dict[str, Any] = {
                "id": cus_id,
                "object": "customer",
                "name": params.get("name"),
                "metadata": _metadata(params),
            }
            state.customers[cus_id] = cus
            return 200, cus
        if method == "POST" and path == "/v1/subscriptions":
            return self._create_subscription(params, state)
        if method == "GET" and len(parts) == 3 and parts[1] in ("customers", "subscriptions"):
            store = state.customers if parts[1] == "customers" else state.subscriptions
            found = store.get(parts[2])
            return (200, found) if found else (404, _error(f"No such {parts[1][:-1]}"))
        if method == "POST" and path == "/v1/billing_portal/sessions":
            if params.get("customer") not in state.customers:
                return 400, _error(f"No such customer: '{params.get('customer')}'")
            host, port = self.server.server_address[:2]
            session_id = f"bps_{next(state.ids)}"
            return 200, {
                "id": session_id,
                "object": "billing_portal.session",
                "customer": params["customer"],
                "return_url": params.get("return_url"),
                "url": f"http://{host!s}:{port}/p/session/{session_id}",
            }
        if method == "POST" and path == "/v1/billing/meter_events":
            event = {
                "object": "billing.meter_event",
                "event_name": params.get("event_name"),
                "identifier": params.get("identifier"),
                "timestamp": int(params.get("timestamp") or 0),
                "payload": {
                    k[len("payload[") : -1]: v
                    for k, v in params.items()
                    if k.startswith("payload[")
                },
                "livemode": False,
            }
            state.meter_events.append(event)
            return 200, event
        return 404, _error(f"Unrecognized request URL ({method}: {path})")

    def _create_subscription(
        self, params: dict[str, str], state: StandinState
    ) -> tuple[int, dict[str, Any]]:
        customer = params.get("customer", "")
        if customer not in state.customers:
            return 400, _error(f"No such customer: '{customer}'")
        sub = subscription_object(
            f"sub_{next(state.ids)}",
            customer,
            params.get("items[0][price]", ""),
            state.subscription_status,
            _metadata(params),
            int(time.time()) + PERIOD_SECONDS,
        )
        state.subscriptions[sub["id"]] = sub
        return 200, sub


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = StandinState()


@dataclass
class StripeStandin:
    """A running stand-in: its base address and its state (reset between tests)."""

    base: str
    server: _Server

    @property
    def state(self) -> StandinState:
        return self.server.state

    def reset(self) -> None:
        self.server.state = StandinState()


@contextmanager
def running_standin() -> Iterator[StripeStandin]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, name="stripe-standin", daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield StripeStandin(base=f"http://127.0.0.1:{port}", server=server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
