"""API of the posture area (filled in by that area)."""

from __future__ import annotations
