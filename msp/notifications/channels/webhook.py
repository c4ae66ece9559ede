"""The webhook channel: a JSON POST signed with HMAC-SHA256 over the raw body.

Receivers verify ``X-MSP-Signature: sha256=<hex>`` with the endpoint's secret. Redirects are
never followed, and targets that resolve to loopback, private, link-local or otherwise
non-public addresses are refused unless ``MSP_WEBHOOK_ALLOW_PRIVATE`` is on. The connection
goes to the address that was checked (the name is resolved once), so a DNS answer that
changes between check and connect cannot redirect the POST to an internal host.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from msp.notifications.channels import (
    Channel,
    ChannelConfigError,
    ChannelField,
    DeliveryError,
    Message,
    Target,
    require_fields,
)
from msp.notifications.settings import NotifySettings

SIGNATURE_HEADER = "X-MSP-Signature"
MIN_SECRET_LENGTH = 16
RETRYABLE_STATUS = frozenset({408, 425, 429})
USER_AGENT = "msp-dmarc-notifications/1"

FIELDS = (
    ChannelField("url", "https:// (or http://) URL that receives the POST"),
    ChannelField(
        "secret", f"HMAC-SHA256 key, at least {MIN_SECRET_LENGTH} characters", secret=True
    ),
)


class UnsafeTarget(DeliveryError):
    """The URL points at an address webhooks may not reach."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str) -> bool:
    """True when ``header`` is the signature of ``body`` under ``secret`` (for receivers)."""
    return hmac.compare_digest(sign(body, secret), header)


def validate(values: dict[str, Any]) -> dict[str, Any]:
    errors = require_fields(FIELDS, values)
    url = values.get("url")
    if isinstance(url, str) and "url" not in errors:
        parts = urlsplit(url.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            errors["url"] = ["must be an http:// or https:// URL with a host"]
        elif parts.username or parts.password:
            errors["url"] = ["credentials in the URL are not allowed"]
    elif "url" not in errors:
        errors["url"] = ["must be a string"]
    secret = values.get("secret")
    if "secret" not in errors and (not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH):
        errors["secret"] = [f"at least {MIN_SECRET_LENGTH} characters"]
    if errors:
        raise ChannelConfigError(errors)
    return {"url": str(url).strip(), "secret": str(secret)}


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


MAX_ADDRESSES = 3


def resolve(host: str, port: int, allow_private: bool) -> list[str]:
    """The addresses to try, in resolver order; UnsafeTarget if any of them is not public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DeliveryError(f"cannot resolve {host}: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise DeliveryError(f"{host} has no address")
    if not allow_private:
        blocked = sorted({a for a in addresses if not _is_public(a)})
        if blocked:
            raise UnsafeTarget(f"{host} resolves to non-public address(es) {', '.join(blocked)}")
    return addresses[:MAX_ADDRESSES]


@dataclass(frozen=True)
class PinnedRequest:
    """One way to reach the URL: its checked address in the URL, the name in Host and SNI."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, Any]


def pinned_requests(url: str, allow_private: bool) -> list[PinnedRequest]:
    """The requests for ``url``, one per checked address of its host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    extensions: dict[str, Any] = {"sni_hostname": host} if parts.scheme == "https" else {}
    requests = []
    for address in resolve(host, port, allow_private):
        literal = f"[{address}]" if ":" in address else address
        pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        requests.append(PinnedRequest(pinned, {"Host": parts.netloc}, extensions))
    return requests


def body_of(message: Message, target: Target) -> bytes:
    document = {
        "delivery_id": target.delivery_id,
        "attempt": target.attempt,
        "sent_at": datetime.now(UTC).isoformat(),
        "subject": message.subject,
        **message.data,
    }
    return json.dumps(document, sort_keys=True, default=str).encode()


def _status_error(response: httpx.Response) -> DeliveryError:
    code = response.status_code
    if 300 <= code < 400:
        return DeliveryError(f"HTTP {code}: redirects are not followed", permanent=True)
    retryable = code >= 500 or code in RETRYABLE_STATUS
    return DeliveryError(f"HTTP {code}: {response.text[:200]}", permanent=not retryable)


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """The system trust store, loaded once per process (loading it costs ~20-150 ms; the
    context holds only CA certificates, nothing of any tenant)."""
    return ssl.create_default_context()


def _post(
    client: httpx.Client, requests: list[PinnedRequest], body: bytes, headers: dict[str, str]
) -> httpx.Response:
    """POST to the first address that accepts a connection."""
    for index, request in enumerate(requests):
        try:
            return client.post(
                request.url,
                content=body,
                headers={**request.headers, **headers},
                extensions=request.extensions,
            )
        except httpx.ConnectError:
            if index == len(requests) - 1:
                raise
    raise DeliveryError("no address to connect to")


def send(message: Message, target: Target, settings: NotifySettings) -> str:
    requests = pinned_requests(str(target.config["url"]), settings.webhook_allow_private)
    body = body_of(message, target)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(body, target.secrets["secret"]),
        "X-MSP-Event": str(message.data.get("type", "event")),
        "X-MSP-Delivery": str(target.delivery_id),
    }
    try:
        with httpx.Client(
            follow_redirects=False,
            verify=_tls_context(),
            timeout=settings.webhook_timeout,
            trust_env=False,
        ) as client:
            response = _post(client, requests, body, headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"POST failed: {type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise _status_error(response)
    return f"HTTP {response.status_code}"


CHANNEL = Channel(
    kind="webhook", label="Webhook (signed JSON POST)", fields=FIELDS, validate=validate, send=send
)
