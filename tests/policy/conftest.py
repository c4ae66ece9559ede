"""Fixtures of the policy tests."""

from __future__ import annotations

from .evidence import evidence

__all__ = ["evidence"]
