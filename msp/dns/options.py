"""Options of one checker run, as plain frozen data (no Flask: the CLI builds them from flags,
the service from the app configuration)."""

from __future__ import annotations

from dataclasses import dataclass, field

from msp.dns.http import HttpSettings
from msp.dns.resolver import ResolverSettings


@dataclass(frozen=True)
class CheckOptions:
    resolver: ResolverSettings = field(default_factory=ResolverSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    probe_common_selectors: bool = True
    fetch_bimi_logo: bool = True
    check_rr_type_spf: bool = True
    concurrency: int = 50  # domains checked at once in a fleet run
    domain_deadline: float = 60.0  # seconds one domain may take before it is given up
