"""The Domain: one FQDN of one tenant, unique across the deployment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from msp.db import Base, JSONType, TenantOwnedMixin, TimestampMixin, UTCDateTime


class Domain(TenantOwnedMixin, TimestampMixin, Base):
    __tablename__ = "domain"
    __table_args__ = (Index("ix_domain_tenant_id_name", "tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    dkim_selectors: Mapped[list[str]] = mapped_column(JSONType, default=list)
    check_interval_minutes: Mapped[int | None]
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    parked: Mapped[bool] = mapped_column(default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Reports are routed to the tenant only once it has shown control of the name (or MSP
    # staff vouched for it); the TXT token at _msp-verify.<name> is one way to show it.
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verification_token: Mapped[str | None] = mapped_column(String(64))
