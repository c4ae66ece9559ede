"""Models of the policy area."""

from __future__ import annotations
