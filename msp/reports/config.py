"""The reports settings a service call or a job needs, read once from the app config into one
frozen value (limits, the report address domain, the raw object store, the stale delay)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app

from msp.reports import store
from msp.reports.formats import Limits


@dataclass(frozen=True)
class ReportsConfig:
    """The reports settings a service call needs, read once from the app config."""

    limits: Limits
    reports_domain: str | None
    object_store: store.ObjectStore | None
    stale_minutes: int

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> ReportsConfig:
        return cls(
            limits=Limits(
                max_input_bytes=int(config["MSP_REPORTS_MAX_FILE_BYTES"]),
                max_unpacked_bytes=int(config["MSP_REPORTS_MAX_UNPACKED_BYTES"]),
                max_ratio=int(config["MSP_REPORTS_MAX_RATIO"]),
            ),
            reports_domain=config.get("MSP_REPORTS_DOMAIN"),
            object_store=store.object_store_from_setting(config.get("MSP_REPORTS_STORE")),
            stale_minutes=int(config["MSP_REPORTS_STALE_MINUTES"]),
        )


def current_config() -> ReportsConfig:
    return ReportsConfig.from_mapping(current_app.config)
