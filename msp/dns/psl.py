"""Organisational domains from the Public Suffix List (RFC 7489 3.2), offline.

The list ships inside the ``publicsuffixlist`` package; it is loaded once on first use (it is
read-only reference data, not a cache of anyone's records).
"""

from __future__ import annotations

from functools import lru_cache

from publicsuffixlist import PublicSuffixList


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def org_domain(name: str) -> str:
    """The registered domain of ``name`` (itself if it is a public suffix or unknown)."""
    name = name.lower().rstrip(".")
    return _psl().privatesuffix(name) or name


def is_public_suffix(name: str) -> bool:
    return _psl().is_public(name.lower().rstrip("."))
