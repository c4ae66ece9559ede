"""``/api/v1/domains/{id}/posture``, ``.../posture/history`` and ``.../check``: DNS posture."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters

from msp.api.pagination import page_of
from msp.api.schemas.posture import PostureRunSchema, PostureSchema
from msp.auth.decorators import require_auth, require_manage
from msp.dns import service
from msp.domains.models import Domain
from msp.errors import NotFound
from msp.tenancy.scope import get_scoped

blp = Blueprint("posture", __name__, url_prefix="/api/v1", description="DNS posture")


def _posture(domain: Domain, view: service.PostureView) -> dict[str, Any]:
    return {**view.__dict__, "open_findings": service.open_findings(domain)}


@blp.route("/domains/<int:domain_id>/posture")
class Posture(MethodView):
    @require_auth
    @blp.response(200, PostureSchema)
    def get(self, domain_id: int) -> Any:
        """The domain's latest posture: every record, its findings and grade."""
        domain = get_scoped(Domain, domain_id)
        view = service.latest_posture(domain.id)
        if view is None:
            raise NotFound(f"domain {domain_id} has not been checked yet")
        return _posture(domain, view)


@blp.route("/domains/<int:domain_id>/posture/history")
class PostureHistory(MethodView):
    @require_auth
    @blp.response(200, PostureRunSchema(many=True))
    @blp.paginate()
    def get(self, domain_id: int, pagination_parameters: PaginationParameters) -> Any:
        """The domain's past checks, newest first, each with the drift it found."""
        domain = get_scoped(Domain, domain_id)
        runs = page_of(service.history_select(domain), pagination_parameters)
        drift = service.drift_of_runs([r.id for r in runs])
        return [{**r.__dict__, "drift": drift[r.id]} for r in runs]


@blp.route("/domains/<int:domain_id>/check")
class CheckNow(MethodView):
    @require_auth
    @blp.response(201, PostureSchema)
    def post(self, domain_id: int) -> Any:
        """Check the domain's records now and store the run."""
        domain = get_scoped(Domain, domain_id)
        require_manage(domain.tenant_id)
        return _posture(domain, service.check_domain_now(domain.id))
