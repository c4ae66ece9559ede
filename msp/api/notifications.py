"""``/api/v1``: notification teams, their endpoints, routing rules, deliveries and channels.

Every route is for people who may change the tenant's data (tenant admins and MSP staff);
others get 403, and objects of tenants out of reach are 404.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters
from markupsafe import escape

from msp.api.pagination import page_of
from msp.api.schemas.notifications import (
    ChannelSchema,
    DeliveryQuerySchema,
    DeliverySchema,
    DigestPreviewQuerySchema,
    DigestPreviewSchema,
    DigestSettingsSchema,
    EndpointSchema,
    EndpointUpdateSchema,
    RulesSchema,
    TeamSchema,
    TeamUpdateSchema,
)
from msp.auth.decorators import require_auth, require_manage
from msp.db import utcnow
from msp.errors import BadRequest
from msp.notifications import delivery, digest_service, service
from msp.notifications.digest_render import with_data_uris
from msp.notifications.models import NotificationEndpoint, NotificationTeam
from msp.notifications.settings import NotifySettings, notify_settings
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped

blp = Blueprint(
    "notifications",
    __name__,
    url_prefix="/api/v1",
    description="Notifications: teams, endpoints, rules, deliveries",
)


def _key() -> str | None:
    return current_app.config.get("MSP_ENCRYPTION_KEY")


def _notify() -> NotifySettings:
    return notify_settings(current_app.config)


def _managed_tenant(tenant_id: int) -> Tenant:
    tenant = get_scoped(Tenant, tenant_id)
    require_manage(tenant.id)
    return tenant


def _managed(model: type[Any], object_id: int) -> Any:
    row = get_scoped(model, object_id)
    require_manage(row.tenant_id)
    return row


@blp.route("/notification-channels")
class Channels(MethodView):
    @require_auth
    @blp.response(200, ChannelSchema(many=True))
    def get(self) -> Any:
        """The channel kinds and their configuration fields (secret ones are write-only)."""
        return service.describe_channels()


@blp.route("/tenants/<int:tenant_id>/notification-teams")
class Teams(MethodView):
    @require_auth
    @blp.response(200, TeamSchema(many=True))
    def get(self, tenant_id: int) -> Any:
        """The tenant's teams with their endpoints."""
        return service.list_teams(_managed_tenant(tenant_id).id)

    @require_auth
    @blp.arguments(TeamSchema)
    @blp.response(201, TeamSchema)
    def post(self, data: dict[str, Any], tenant_id: int) -> Any:
        """Add a team."""
        tenant = _managed_tenant(tenant_id)
        return service.create_team(
            tenant.id, data["name"], data.get("label"), data.get("receives_digest")
        )


@blp.route("/tenants/<int:tenant_id>/notification-teams/defaults")
class DefaultTeams(MethodView):
    @require_auth
    @blp.response(200, TeamSchema(many=True))
    def post(self, tenant_id: int) -> Any:
        """Create the standard teams that are missing (service desk, sysadmins, ...)."""
        return service.ensure_default_teams(_managed_tenant(tenant_id).id)


@blp.route("/notification-teams/<int:team_id>")
class TeamItem(MethodView):
    @require_auth
    @blp.response(200, TeamSchema)
    def get(self, team_id: int) -> Any:
        """One team."""
        return _managed(NotificationTeam, team_id)

    @require_auth
    @blp.arguments(TeamUpdateSchema)
    @blp.response(200, TeamSchema)
    def patch(self, data: dict[str, Any], team_id: int) -> Any:
        """Change a team's label or whether it receives the weekly digest."""
        return service.update_team(_managed(NotificationTeam, team_id), data)

    @require_auth
    @blp.response(204)
    def delete(self, team_id: int) -> None:
        """Remove a team with its endpoints and rules."""
        service.delete_team(_managed(NotificationTeam, team_id))


@blp.route("/notification-teams/<int:team_id>/endpoints")
class TeamEndpoints(MethodView):
    @require_auth
    @blp.arguments(EndpointSchema)
    @blp.response(201, EndpointSchema)
    def post(self, data: dict[str, Any], team_id: int) -> Any:
        """Add an endpoint (an e-mail list or a webhook) to a team."""
        team = _managed(NotificationTeam, team_id)
        return service.create_endpoint(
            team,
            data["kind"],
            data["config"],
            name=data["name"],
            enabled=data["enabled"],
            encryption_key=_key(),
        )


@blp.route("/notification-endpoints/<int:endpoint_id>")
class EndpointItem(MethodView):
    @require_auth
    @blp.response(200, EndpointSchema)
    def get(self, endpoint_id: int) -> Any:
        """One endpoint (secrets are never returned)."""
        return _managed(NotificationEndpoint, endpoint_id)

    @require_auth
    @blp.arguments(EndpointUpdateSchema)
    @blp.response(200, EndpointSchema)
    def patch(self, data: dict[str, Any], endpoint_id: int) -> Any:
        """Change an endpoint; secret fields left out keep their value."""
        endpoint = _managed(NotificationEndpoint, endpoint_id)
        return service.update_endpoint(endpoint, data, encryption_key=_key())

    @require_auth
    @blp.response(204)
    def delete(self, endpoint_id: int) -> None:
        """Remove an endpoint and its delivery history."""
        service.delete_endpoint(_managed(NotificationEndpoint, endpoint_id))


@blp.route("/notification-endpoints/<int:endpoint_id>/test")
class EndpointTest(MethodView):
    @require_auth
    @blp.response(202, DeliverySchema)
    def post(self, endpoint_id: int) -> Any:
        """Send a test message to the endpoint; the delivery shows the outcome."""
        endpoint = _managed(NotificationEndpoint, endpoint_id)
        tenant = get_scoped(Tenant, endpoint.tenant_id)
        return delivery.send_probe(endpoint, tenant.name)


@blp.route("/tenants/<int:tenant_id>/notification-rules")
class Rules(MethodView):
    @require_auth
    @blp.response(200, RulesSchema)
    def get(self, tenant_id: int) -> Any:
        """The routing rules in force (the built-in ones while the tenant has none)."""
        return service.rules_document(_managed_tenant(tenant_id).id)

    @require_auth
    @blp.arguments(RulesSchema)
    @blp.response(200, RulesSchema)
    def put(self, data: dict[str, Any], tenant_id: int) -> Any:
        """Replace the tenant's rules (an empty list restores the built-in ones)."""
        tenant = _managed_tenant(tenant_id)
        service.replace_rules(tenant.id, data["rules"])
        return service.rules_document(tenant.id)


@blp.route("/tenants/<int:tenant_id>/notification-deliveries")
class Deliveries(MethodView):
    @require_auth
    @blp.arguments(DeliveryQuerySchema, location="query")
    @blp.response(200, DeliverySchema(many=True))
    @blp.paginate()
    def get(
        self, args: dict[str, Any], tenant_id: int, pagination_parameters: PaginationParameters
    ) -> Any:
        """The tenant's deliveries, newest first."""
        tenant = _managed_tenant(tenant_id)
        return page_of(
            delivery.deliveries_query(tenant.id, args.get("status")), pagination_parameters
        )


@blp.route("/tenants/<int:tenant_id>/digest/preview")
class DigestPreview(MethodView):
    @require_auth
    @blp.arguments(DigestPreviewQuerySchema, location="query")
    @blp.response(200, DigestPreviewSchema)
    def get(self, args: dict[str, Any], tenant_id: int) -> Any:
        """The weekly digest as it would be sent now (or in ``week``); nothing is sent.
        ``html`` carries its images as data URIs so it can be shown as it is."""
        tenant = _managed_tenant(tenant_id)
        settings = _notify()
        moment = digest_service.moment_of(tenant, settings, args.get("week"), utcnow())
        rendered = digest_service.render(tenant, settings, moment)
        return {
            "subject": rendered.subject,
            "text": rendered.text,
            "html": with_data_uris(rendered.html, rendered.images),
            "week": rendered.data["digest"]["week"],
        }


@blp.route("/tenants/<int:tenant_id>/digest/settings")
class DigestSettingsItem(MethodView):
    @require_auth
    @blp.response(200, DigestSettingsSchema)
    def get(self, tenant_id: int) -> Any:
        """When and to whom the weekly digest goes (``own`` false: the defaults)."""
        tenant = _managed_tenant(tenant_id)
        return digest_service.schedule_of(tenant, _notify())

    @require_auth
    @blp.arguments(DigestSettingsSchema)
    @blp.response(200, DigestSettingsSchema)
    def put(self, data: dict[str, Any], tenant_id: int) -> Any:
        """Change the digest's day, hour, time zone, extra addresses, or turn it off."""
        tenant = _managed_tenant(tenant_id)
        return digest_service.update_schedule(tenant, data, _notify())


UNSUBSCRIBE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Unsubscribe</title></head>
<body style="font-family:sans-serif; max-width:32rem; margin:3rem auto; padding:0 1rem;">
<h1 style="font-size:1.3rem;">Stop the weekly report?</h1>
<p>%s will no longer receive the weekly e-mail security report.</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit" style="padding:.5rem 1rem;">Unsubscribe</button></form></body></html>"""
DONE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Unsubscribed</title></head>
<body style="font-family:sans-serif; max-width:32rem; margin:3rem auto; padding:0 1rem;">
<h1 style="font-size:1.3rem;">Unsubscribed</h1><p>%s will receive no more weekly reports.</p>
</body></html>"""


@blp.route("/digest/unsubscribe/<string:token>")
class DigestUnsubscribe(MethodView):
    @blp.doc(security=[])
    def get(self, token: str) -> Any:
        """The footer link: a page with one button (a GET never unsubscribes, so link
        scanners that open every URL cannot unsubscribe anyone)."""
        _, address = digest_service.read_token(token, _notify().secret_key)
        return Response(UNSUBSCRIBE_PAGE % escape(address), mimetype="text/html")

    @blp.doc(security=[])
    def post(self, token: str) -> Any:
        """RFC 8058 one-click unsubscribe (no login: the signed token names the recipient)."""
        secret_key = _notify().secret_key
        digest_service.read_token(token, secret_key)  # an unknown link is 404 before all else
        if request.form.get("List-Unsubscribe") != "One-Click":
            raise BadRequest("expected the form field List-Unsubscribe=One-Click")
        _, address = digest_service.unsubscribe(token, secret_key)
        if request.accept_mimetypes.accept_html:
            return Response(DONE_PAGE % escape(address), mimetype="text/html")
        return Response(status=204)
