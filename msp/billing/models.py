"""Models of the billing area."""

from __future__ import annotations
