"""API of the policy area (filled in by that area)."""

from __future__ import annotations
