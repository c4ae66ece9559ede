"""Job functions used only by the tests (RQ imports jobs by dotted path)."""

from __future__ import annotations

from workers.runtime import job


@job
def always_fails(reason: str) -> None:
    raise RuntimeError(reason)
