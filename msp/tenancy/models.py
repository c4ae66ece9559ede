"""The Tenant: one client of the MSP, owner of domains, users' memberships and all report data."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from msp.db import Base, TimestampMixin


def new_report_token() -> str:
    """A random local part for the tenant's own report address (``<token>@<reports-domain>``)."""
    return "r" + secrets.token_hex(8)


class Tenant(TimestampMixin, Base):
    __tablename__ = "tenant"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    plan: Mapped[str] = mapped_column(String(32), default="standard")
    status: Mapped[str] = mapped_column(String(16), default="active")
    report_token: Mapped[str] = mapped_column(String(32), unique=True, default=new_report_token)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"
