"""Models of the dns area."""

from __future__ import annotations
