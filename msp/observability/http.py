"""Request hooks and the ``/metrics`` endpoint.

Every request gets an id (the caller's ``X-Request-ID`` if well formed, else a new one), echoed
in the response and put on every log line; its route, status and latency are counted. The
route label is the URL rule (``/api/v1/domains/<int:domain_id>``), never the raw path, so
label cardinality stays bounded.
"""

from __future__ import annotations

import hmac
import logging
import time

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from msp.observability.business import BusinessCollector
from msp.observability.collectors import GuardedCollectors, JobStatsCollector, QueueCollector
from msp.observability.context import REQUEST_ID_HEADER, new_request_id, request_id_var
from msp.observability.metrics import ProcessLocalCollector, http_metrics

log = logging.getLogger(__name__)
METRICS_PATH = "/metrics"
UNMATCHED_ROUTE = "<unmatched>"


def _start_request() -> None:
    g.msp_request_started = time.perf_counter()
    g.msp_request_id = new_request_id(request.headers.get(REQUEST_ID_HEADER))
    g.msp_request_token = request_id_var.set(g.msp_request_id)


def _finish_request(response: Response) -> Response:
    started = g.pop("msp_request_started", None)
    request_id = g.get("msp_request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    if started is not None and request.path != METRICS_PATH:
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
        metrics = http_metrics()
        metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)
    return response


def _teardown_request(_exc: BaseException | None) -> None:
    token = g.pop("msp_request_token", None)
    if token is not None:
        request_id_var.reset(token)


def scrape_registry() -> CollectorRegistry:
    """A registry assembled for one scrape: this pod's HTTP samples plus the shared state."""
    from msp.extensions import db
    from msp.queues import ALL_QUEUES, dispatcher

    connection = dispatcher().connection
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProcessLocalCollector())
    registry.register(
        GuardedCollectors(
            [
                ("jobs", JobStatsCollector(connection)),
                ("queues", QueueCollector(connection, ALL_QUEUES)),
                ("database", BusinessCollector(db.engine, connection)),
            ]
        )
    )
    return registry


def metrics_token(app: Flask) -> str | None:
    """``MSP_METRICS_TOKEN``: when set, scrapes must send it as the HTTP Basic password (any
    user name; Prometheus: ``basic_auth: {username: metrics, password_file: ...}``). Basic,
    not Bearer: a bearer header is an API token to the auth layer, which runs first.

    Read under both spellings: unregistered ``MSP_*`` variables reach ``app.config`` without
    their prefix, registered settings with it.
    """
    token = app.config.get("MSP_METRICS_TOKEN") or app.config.get("METRICS_TOKEN")
    return str(token) if token else None


def metrics_view() -> Response:
    """Prometheus text exposition of every msp metric."""
    token = metrics_token(current_app)
    if token:
        given = request.authorization.password if request.authorization else None
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            return Response(
                "metrics need the scrape password\n",
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="metrics"'},
                content_type="text/plain",
            )
    body = generate_latest(scrape_registry())
    return Response(body, mimetype=None, content_type=CONTENT_TYPE_LATEST)


def init_http(app: Flask) -> None:
    # First of all before-request hooks: a request refused by an earlier hook (a bad API
    # token) still gets its id, its log context and its count.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_finish_request)
    app.teardown_request(_teardown_request)
    app.add_url_rule(METRICS_PATH, "metrics", metrics_view, methods=["GET"])
