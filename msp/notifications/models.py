"""Models of the notifications area."""

from __future__ import annotations
