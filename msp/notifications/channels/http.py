"""The one way the HTTP channels (signed webhooks, Slack, Teams) POST to a URL a tenant chose:
through the outbound guard of :mod:`msp.netguard` (the host's addresses are checked and the
connection goes to the checked address, Host and TLS SNI keep the name), never following
redirects, with the system trust store.
"""

from __future__ import annotations

import ssl
from functools import lru_cache
from urllib.parse import urlsplit

import httpx

from msp.netguard import BlockedAddress, Guard, parse_networks
from msp.notifications.channels.base import ChannelConfigError, DeliveryError
from msp.notifications.settings import NotifySettings

RETRYABLE_STATUS = frozenset({408, 425, 429})
USER_AGENT = "msp-dmarc-notifications/1"


class UnsafeTarget(DeliveryError):
    """The URL points at an address the outbound guard refuses."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


def url_errors(url: object) -> list[str]:
    """Why ``url`` cannot be a channel's target (empty: it can)."""
    if not isinstance(url, str):
        return ["must be a string"]
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return ["must be an http:// or https:// URL with a host"]
    if parts.username or parts.password:
        return ["credentials in the URL are not allowed"]
    return []


def check_url(name: str, url: object, errors: dict[str, list[str]]) -> None:
    if name not in errors and (problems := url_errors(url)):
        errors[name] = problems


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """The system trust store, loaded once per process (loading it costs ~20-150 ms; the
    context holds only CA certificates, nothing of any tenant)."""
    return ssl.create_default_context()


def guard_of(settings: NotifySettings) -> Guard:
    return Guard(
        allow=parse_networks(settings.outbound_allow),
        allow_private=settings.webhook_allow_private,
    )


def status_error(response: httpx.Response) -> DeliveryError:
    code = response.status_code
    if 300 <= code < 400:
        return DeliveryError(f"HTTP {code}: redirects are not followed", permanent=True)
    retryable = code >= 500 or code in RETRYABLE_STATUS
    return DeliveryError(f"HTTP {code}: {response.text[:200]}", permanent=not retryable)


def post(
    url: str, body: bytes, headers: dict[str, str], settings: NotifySettings
) -> httpx.Response:
    """POST ``body`` to ``url``; DeliveryError when it cannot be sent (UnsafeTarget: never)."""
    transport = guard_of(settings).transport(verify=_tls_context())
    try:
        with httpx.Client(
            transport=transport,
            follow_redirects=False,
            timeout=settings.webhook_timeout,
            trust_env=False,
        ) as client:
            return client.post(url, content=body, headers={"User-Agent": USER_AGENT, **headers})
    except BlockedAddress as exc:
        raise UnsafeTarget(str(exc)) from exc
    except httpx.HTTPError as exc:
        raise DeliveryError(f"POST failed: {type(exc).__name__}: {exc}") from exc
    except OSError as exc:  # the name does not resolve
        raise DeliveryError(f"POST failed: {exc}") from exc


def raise_for_channel(response: httpx.Response, ok: frozenset[int] | None = None) -> str:
    """The receipt of a successful answer; DeliveryError otherwise (``ok``: accepted codes,
    default every 2xx)."""
    code = response.status_code
    if (code in ok) if ok is not None else 200 <= code < 300:
        return f"HTTP {code}"
    raise status_error(response)


def config_error(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ChannelConfigError(errors)
