"""``/api/v1/domains/{id}/plan``, ``/simulate``, ``/escalations``, ``/timeline``; decisions on
``/escalations/{id}``; tenant readiness and policy settings. Views: load, call, dump."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters

from msp.api.pagination import page_of
from msp.api.schemas.policy import (
    PolicyChangeSchema,
    PolicyPlanSchema,
    PolicyReadinessSchema,
    PolicyRejectSchema,
    PolicyRollbackSchema,
    PolicyScheduleSchema,
    PolicySettingsSchema,
    PolicySimulateInSchema,
    PolicySimulationSchema,
    PolicyTimelineEntrySchema,
)
from msp.auth.decorators import require_auth, require_manage
from msp.domains.models import Domain
from msp.policy import service
from msp.policy.models import PolicyChange
from msp.response_cache import cached
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped

blp = Blueprint("policy", __name__, url_prefix="/api/v1", description="Policy engine")


@blp.route("/domains/<int:domain_id>/plan")
class Plan(MethodView):
    @require_auth
    @cached
    @blp.response(200, PolicyPlanSchema)
    def get(self, domain_id: int) -> Any:
        """The domain's stage, record to publish now, next stage, gates and readiness."""
        return service.plan_view(get_scoped(Domain, domain_id)).as_dict()


@blp.route("/domains/<int:domain_id>/evaluate")
class Evaluate(MethodView):
    @require_auth
    @blp.response(200, PolicyPlanSchema)
    def post(self, domain_id: int) -> Any:
        """Run the domain's evaluation now (propose, withdraw or roll back); the new plan."""
        domain = get_scoped(Domain, domain_id)
        require_manage(domain.tenant_id)
        service.evaluate_domain(domain.id, force=True)
        return service.plan_view(domain).as_dict()


@blp.route("/domains/<int:domain_id>/rollback")
class Rollback(MethodView):
    @require_auth
    @blp.arguments(PolicyRollbackSchema)
    @blp.response(201, PolicyChangeSchema)
    def post(self, data: dict[str, Any], domain_id: int) -> Any:
        """Propose a rollback by hand, with a reason (kept in the timeline and the audit)."""
        domain = get_scoped(Domain, domain_id)
        require_manage(domain.tenant_id)
        return service.propose_rollback(domain, data["reason"])


@blp.route("/domains/<int:domain_id>/simulate")
class Simulate(MethodView):
    @require_auth
    @blp.arguments(PolicySimulateInSchema)
    @blp.response(200, PolicySimulationSchema)
    def post(self, data: dict[str, Any], domain_id: int) -> Any:
        """What-if: the last N days of reports replayed under a proposed record."""
        domain = get_scoped(Domain, domain_id)
        return service.simulate_domain(domain, data["record"], data.get("days"))


@blp.route("/domains/<int:domain_id>/escalations")
class DomainEscalations(MethodView):
    @require_auth
    @blp.response(200, PolicyChangeSchema(many=True))
    @blp.paginate()
    def get(self, domain_id: int, pagination_parameters: PaginationParameters) -> Any:
        """The domain's stage changes (escalations and rollbacks), newest first."""
        domain = get_scoped(Domain, domain_id)
        return page_of(service.changes_select(domain), pagination_parameters)

    @require_auth
    @blp.response(201, PolicyChangeSchema)
    def post(self, domain_id: int) -> Any:
        """Propose the next stage (only when every gate passes)."""
        domain = get_scoped(Domain, domain_id)
        require_manage(domain.tenant_id)
        return service.propose(domain)


@blp.route("/domains/<int:domain_id>/timeline")
class Timeline(MethodView):
    @require_auth
    @blp.response(200, PolicyTimelineEntrySchema(many=True))
    @blp.paginate()
    def get(self, domain_id: int, pagination_parameters: PaginationParameters) -> Any:
        """Evaluations, proposals, decisions, publications, verifications, rollbacks."""
        domain = get_scoped(Domain, domain_id)
        return page_of(service.timeline_select(domain), pagination_parameters)


@blp.route("/escalations/<int:change_id>")
class Escalation(MethodView):
    @require_auth
    @blp.response(200, PolicyChangeSchema)
    def get(self, change_id: int) -> Any:
        """One stage change with its records and evidence."""
        return get_scoped(PolicyChange, change_id)


def _managed_change(change_id: int) -> PolicyChange:
    change = get_scoped(PolicyChange, change_id)
    require_manage(change.tenant_id)
    return change


@blp.route("/escalations/<int:change_id>/approve")
class Approve(MethodView):
    @require_auth
    @blp.response(200, PolicyChangeSchema)
    def post(self, change_id: int) -> Any:
        """Approve (MSP staff or tenant admin); it is scheduled for the change window."""
        return service.approve(_managed_change(change_id))


@blp.route("/escalations/<int:change_id>/reject")
class Reject(MethodView):
    @require_auth
    @blp.arguments(PolicyRejectSchema)
    @blp.response(200, PolicyChangeSchema)
    def post(self, data: dict[str, Any], change_id: int) -> Any:
        """Reject a proposed or scheduled change."""
        return service.reject(_managed_change(change_id), data.get("note"))


@blp.route("/escalations/<int:change_id>/schedule")
class Schedule(MethodView):
    @require_auth
    @blp.arguments(PolicyScheduleSchema)
    @blp.response(200, PolicyChangeSchema)
    def post(self, data: dict[str, Any], change_id: int) -> Any:
        """Issue an approved change at a chosen time instead of the next change window."""
        return service.schedule(_managed_change(change_id), data["at"])


@blp.route("/tenants/<int:tenant_id>/readiness")
class Readiness(MethodView):
    @require_auth
    @blp.response(200, PolicyReadinessSchema)
    def get(self, tenant_id: int) -> Any:
        """The tenant's readiness score and how many domains are at each stage."""
        return service.tenant_readiness(get_scoped(Tenant, tenant_id))


@blp.route("/tenants/<int:tenant_id>/policy-settings")
class TenantPolicySettings(MethodView):
    @require_auth
    @blp.arguments(PolicySettingsSchema)
    @blp.response(200, PolicySettingsSchema)
    def put(self, data: dict[str, Any], tenant_id: int) -> Any:
        """Replace the tenant's policy settings (validated)."""
        tenant = get_scoped(Tenant, tenant_id)
        require_manage(tenant.id)
        return {"policy": service.set_policy_settings(tenant, data["policy"])}


@blp.route("/domains/<int:domain_id>/policy-settings")
class DomainPolicySettings(MethodView):
    @require_auth
    @blp.arguments(PolicySettingsSchema)
    @blp.response(200, PolicySettingsSchema)
    def put(self, data: dict[str, Any], domain_id: int) -> Any:
        """Replace the domain's policy settings (validated; they override the tenant's)."""
        domain = get_scoped(Domain, domain_id)
        require_manage(domain.tenant_id)
        return {"policy": service.set_policy_settings(domain, data["policy"])}
