"""API of the reports area (filled in by that area)."""

from __future__ import annotations
