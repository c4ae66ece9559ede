"""The MTA-STS policy file of delegated clients (RFC 8461 3.2), answered by Host header:
``https://mta-sts.<client domain>/.well-known/mta-sts.txt``.

The client points ``mta-sts.<domain>`` at this app (a CNAME) and ``_mta-sts.<domain>`` at the
MSP's hosted zone; the chart's Ingress terminates TLS for those hosts (cert-manager). The
policy lists the MX hosts the last DNS check found, so it follows the client's mail servers.
The route is public by design (receivers fetch it anonymously); it is outside /api/v1 and
documented as text/plain.
"""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint
from sqlalchemy import select

from msp.domains.models import Domain
from msp.extensions import db
from msp.publishing.models import DomainPublishing

PATH = "/.well-known/mta-sts.txt"
MAX_AGE = {"enforce": 604800, "testing": 86400, "none": 86400}  # seconds (RFC 8461 3.2)
PREFIX = "mta-sts."

blp = Blueprint("mta_sts", __name__, description="MTA-STS policy files of delegated domains")


def _mx_hosts(domain_id: int) -> list[str]:
    from msp.dns.service import latest_posture

    posture = latest_posture(domain_id)
    if posture is None:
        return []
    hosts = (posture.result.get("mx") or {}).get("hosts") or []
    return sorted({h["exchange"].rstrip(".") for h in hosts if h["exchange"] not in (".", "")})


def policy_text(host: str) -> str | None:
    """The policy served at ``host`` (``mta-sts.<domain>``), or None when there is none."""
    host = host.split(":")[0].rstrip(".").lower()
    if not host.startswith(PREFIX):
        return None
    row = db.session.execute(
        select(Domain.id, DomainPublishing.mta_sts_mode)
        .join(DomainPublishing, DomainPublishing.domain_id == Domain.id)
        .where(Domain.name == host[len(PREFIX) :], DomainPublishing.delegated.is_(True))
    ).first()
    if row is None or row.mta_sts_mode is None:
        return None
    mode, mx = row.mta_sts_mode, _mx_hosts(row.id)
    if mode != "none" and not mx:
        return None  # an enforce/testing policy without MX would refuse all mail
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {m}" for m in mx)]
    lines.append(f"max_age: {MAX_AGE[mode]}")
    return "\r\n".join(lines) + "\r\n"


@blp.route(PATH, methods=["GET"])
@blp.response(200, description="the policy file (text/plain)", content_type="text/plain")
@blp.alt_response(404, description="no policy for this host", content_type="text/plain")
def policy_file() -> Response:
    """The MTA-STS policy file for the Host asked for (public; 404 for any other host)."""
    text = policy_text(request.host or "")
    if text is None:
        return Response("no MTA-STS policy here\n", status=404, mimetype="text/plain")
    return Response(text, status=200, mimetype="text/plain")
