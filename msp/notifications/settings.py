"""Settings of the notifications area."""

from __future__ import annotations

from msp.config import Setting

SETTINGS: list[Setting] = []
