"""``msp check DOMAIN...``: the checker from the command line, with no database."""

from __future__ import annotations

import sys

import click

from msp.dns.checker import DomainRequest, check_fleet
from msp.dns.http import HttpSettings
from msp.dns.options import CheckOptions
from msp.dns.report import to_json, to_text
from msp.dns.resolver import (
    InvalidDomainName,
    Nameserver,
    ResolverSettings,
    normalize_domain,
    system_nameservers,
)


def _options(
    nameservers: tuple[str, ...],
    timeout: float,
    allow_private: bool,
    ca_bundle: str | None,
    https_port: int,
    probe: bool,
) -> CheckOptions:
    servers = tuple(Nameserver.parse(n) for n in nameservers) or system_nameservers()
    return CheckOptions(
        resolver=ResolverSettings(servers, timeout=timeout),
        http=HttpSettings(allow_private=allow_private, ca_bundle=ca_bundle, port=https_port),
        probe_common_selectors=probe,
    )


@click.command("check")
@click.argument("domains", nargs=-1, required=True)
@click.option(
    "--nameserver",
    "nameservers",
    multiple=True,
    envvar="MSP_DNS_NAMESERVERS",
    help="IP[:PORT] of the resolver to ask (repeatable); default: /etc/resolv.conf",
)
@click.option("--selector", "selectors", multiple=True, help="DKIM selector to check (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per domain, one per line")
@click.option("--timeout", default=2.0, show_default=True, help="seconds per DNS attempt")
@click.option("--allow-private", is_flag=True, help="allow HTTPS fetches from private addresses")
@click.option("--ca-bundle", default=None, help="CA bundle for MTA-STS/BIMI HTTPS fetches")
@click.option("--https-port", default=443, show_default=True, help="port of HTTPS fetches")
@click.option("--parked", is_flag=True, help="expect parked domains (null MX, -all, reject)")
@click.option(
    "--probe/--no-probe",
    default=True,
    show_default=True,
    help="probe common DKIM selectors when none is given",
)
def check(
    domains: tuple[str, ...],
    nameservers: tuple[str, ...],
    selectors: tuple[str, ...],
    as_json: bool,
    timeout: float,
    allow_private: bool,
    ca_bundle: str | None,
    https_port: int,
    parked: bool,
    probe: bool,
) -> None:
    """Check the e-mail authentication records of DOMAIN... (no database needed)."""
    try:
        names = [normalize_domain(d) for d in domains]
    except InvalidDomainName as exc:
        raise click.BadParameter(str(exc), param_hint="DOMAIN") from exc
    options = _options(nameservers, timeout, allow_private, ca_bundle, https_port, probe)
    run = check_fleet([DomainRequest(n, selectors, parked=parked) for n in names], options)
    for result in run.results:
        click.echo(to_json(result) if as_json else to_text(result) + "\n")
    sys.stdout.flush()


COMMANDS: list[click.Command] = [check]
