"""Outbound HTTPS guard (MTA-STS policies, BIMI logos); the one httpx user of the dns area.

The host name is resolved through the checker's own :class:`~msp.dns.resolver.Resolver`, every
address is vetted by the one outbound guard (:mod:`msp.netguard`: private, loopback, link-local,
shared, reserved, multicast and metadata addresses, and IPv6 forms hiding one, are refused unless
``allow_private`` or the ``allow`` networks say otherwise; one refused address refuses the
host), and the connection goes to the vetted address while TLS still verifies the certificate
against the host name (SNI). Redirects are never followed; bodies over ``max_bytes``
and slow servers fail. The CA bundle comes from a setting so tests can use their own CA.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from msp.dns.resolver import Resolver
    from msp.netguard import Guard

# httpx (and msp.netguard, which subclasses its transport) load only when a fetch is made:
# importing this module for HttpSettings (the settings, `msp check`, `msp plan`) stays cheap,
# and most checks fetch nothing (no MTA-STS or BIMI record). tests/test_cli_lazy.py keeps it so.


@dataclass(frozen=True)
class HttpSettings:
    allow_private: bool = False
    allow: tuple[str, ...] = ()  # CIDRs reachable although not public (MSP_OUTBOUND_ALLOW)
    ca_bundle: str | None = None
    timeout: float = 5.0
    max_bytes: int = 64 * 1024
    port: int = 443  # tests serve policies on a free port


@dataclass(frozen=True)
class Fetched:
    """An HTTPS GET outcome: ``error`` is empty on success."""

    url: str
    status: int = 0
    content_type: str = ""
    body: bytes = b""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


class RefusedAddress(Exception):
    """The host resolves only to addresses the guard does not allow."""


def guard_of(settings: HttpSettings) -> Guard:
    from msp.netguard import Guard, parse_networks

    return Guard(allow=parse_networks(settings.allow), allow_private=settings.allow_private)


def address_allowed(address: str, allow_private: bool, allow: tuple[str, ...] = ()) -> bool:
    return guard_of(HttpSettings(allow_private=allow_private, allow=allow)).allowed(address)


@dataclass
class HttpsFetcher:
    """One fleet run's HTTPS client (created lazily inside the running event loop)."""

    resolver: Resolver
    settings: HttpSettings = field(default_factory=HttpSettings)
    _client: httpx.AsyncClient | None = None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get(self, host: str, path: str) -> Fetched:
        import httpx

        url = f"https://{host}{path}"
        try:
            address = await self._vetted_address(host)
            return await self._get(url, host, address, path)
        except RefusedAddress as exc:
            return Fetched(url, error=str(exc))
        except httpx.HTTPError as exc:
            return Fetched(url, error=f"{type(exc).__name__}: {exc}")
        except (ssl.SSLError, OSError) as exc:
            return Fetched(url, error=f"{type(exc).__name__}: {exc}")

    async def _vetted_address(self, host: str) -> str:
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            answer = await self.resolver.lookup(host, rdtype)
            found.extend(answer.records)
        if not found:
            raise RefusedAddress(f"{host} has no address")
        guard = guard_of(self.settings)
        refused = [a for a in found if not guard.allowed(a)]
        if refused:  # one refused address refuses the host (as msp.netguard does)
            raise RefusedAddress(f"{host} resolves to a refused address ({refused[0]})")
        return found[0]

    async def _get(self, url: str, host: str, address: str, path: str) -> Fetched:
        literal = f"[{address}]" if ":" in address else address
        target = f"https://{literal}:{self.settings.port}{path}"
        request = self._http().build_request(
            "GET", target, headers={"Host": host}, extensions={"sni_hostname": host}
        )
        response = await self._http().send(request, stream=True, follow_redirects=False)
        try:
            if response.status_code != 200:
                return Fetched(url, response.status_code, error=f"HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > self.settings.max_bytes:
                    return Fetched(url, 200, error=f"body over {self.settings.max_bytes} bytes")
        finally:
            await response.aclose()
        content_type = response.headers.get("content-type", "")
        return Fetched(url, 200, content_type, bytes(body))

    def _http(self) -> httpx.AsyncClient:
        import httpx

        if self._client is None:
            context = ssl.create_default_context(cafile=self.settings.ca_bundle)
            self._client = httpx.AsyncClient(
                verify=context,
                timeout=httpx.Timeout(self.settings.timeout),
                follow_redirects=False,
                trust_env=False,
            )
        return self._client
