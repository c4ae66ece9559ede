"""The ``processes`` marker, found rather than remembered: a test is marked when it, one of its
fixtures, or a function of its module that either calls (two calls deep) names something that
starts an OS process, a browser or a listening server, or when it is marked ``slow``.

``pytest -m "not processes"`` is then the quick loop: PostgreSQL and Redis (already running)
but no knot, Dovecot, PowerDNS, moto, Chromium, SMTP or HTTP stand-in, ``msp`` subprocess or
fork. The full suite stays the default.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from types import CodeType
from typing import Any

import pytest

MARKER = "processes"

# Names (globals or attributes) that start something: OS processes and forks, the browser, and
# the real servers the tests run (tests/support, tests/*/servers.py, stand-ins).
PROCESS_NAMES = frozenset(
    {
        # OS processes
        "subprocess",
        "Popen",
        "multiprocessing",
        "fork",
        "run_standalone",
        # browser
        "sync_playwright",
        "live_console",
        # real servers in processes: knot, PowerDNS, moto (Route 53), Dovecot
        "KnotServer",
        "TsigKnot",
        "PowerDns",
        "Route53Server",
        "running_imap_server",
        # listening servers in threads: SMTP, webhooks, chat, Stripe, Cloudflare, HTTPS
        "smtp_server",
        "webhook_server",
        "chat_server",
        "running_standin",
        "CloudflareStandIn",
        "ThreadingHTTPServer",
        "HTTPServer",
        "make_server",
        "serve_forever",
        "listen",
    }
)


def _code_names(code: CodeType) -> set[str]:
    """The global and attribute names a code object uses, nested functions included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _code_names(const)
    return names


def starts_processes(func: Any, depth: int = 2, seen: set[int] | None = None) -> bool:
    """Whether ``func`` names something in PROCESS_NAMES, or a module-level function it calls
    does (``depth`` calls deep)."""
    func = inspect.unwrap(func)
    code = getattr(func, "__code__", None)
    seen = set() if seen is None else seen
    if not isinstance(code, CodeType) or id(code) in seen:
        return False
    seen.add(id(code))
    names = _code_names(code)
    if names & PROCESS_NAMES:
        return True
    if depth == 0:
        return False
    namespace = getattr(func, "__globals__", {})
    called = (namespace[n] for n in names if inspect.isfunction(namespace.get(n)))
    return any(starts_processes(f, depth - 1, seen) for f in called)


def _fixture_functions(item: pytest.Item) -> Iterable[Any]:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return []
    # The last definition of a name is the one that applies to this test.
    return [defs[-1].func for defs in info.name2fixturedefs.values() if defs]


def needs_processes(item: pytest.Item) -> bool:
    if item.get_closest_marker("slow") is not None:
        return True
    function = getattr(item, "function", None)
    if function is not None and starts_processes(function):
        return True
    return any(starts_processes(f) for f in _fixture_functions(item))


def mark_processes(items: list[pytest.Item]) -> None:
    for item in items:
        if needs_processes(item):
            item.add_marker(MARKER)


__all__ = ["MARKER", "PROCESS_NAMES", "mark_processes", "needs_processes", "starts_processes"]
