"""Where a received file came from: one value instead of the same keyword arguments in every
function that stores or processes a file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict


class OriginFields(TypedDict, total=False):
    """:class:`Origin`'s fields as keyword arguments (``receive(data, source="cli", ...)``)."""

    source: str
    filename: str
    recipient: str | None
    tenant_id: int | None
    mailbox_id: int | None
    mailbox_uid: str | None


@dataclass(frozen=True)
class Origin:
    """How a file arrived (``upload``, ``imap``, ``cli``...), its name, the address it was sent
    to, and the tenant or mailbox it was received for (which limits whom it may feed)."""

    source: str
    filename: str = ""
    recipient: str | None = None
    tenant_id: int | None = None
    mailbox_id: int | None = None
    mailbox_uid: str | None = None

    @classmethod
    def of(cls, origin: Origin | None, fields: OriginFields) -> Origin:
        """``origin`` itself, or one made from keyword arguments (not both)."""
        if origin is not None:
            if fields:
                raise TypeError("give an Origin or its fields, not both")
            return origin
        return cls(**fields)
