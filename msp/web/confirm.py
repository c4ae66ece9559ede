"""The confirmation step of every destructive action, drawn on the server: a GET shows
"Remove X? [Remove X] [Cancel]", the form's POST does it. It needs no JavaScript, so a keyboard,
a screen reader or a browser without scripts meets the same question. The lists link to these
pages (``_confirm.html``'s ``danger_link``); each area's GET sits beside its POST, and the one
whose POST lives in a module of another page (rejecting an escalation) is here.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import render_template, url_for

from msp.auth.decorators import require_manage
from msp.auth.principal import current_principal
from msp.domains.models import Domain
from msp.errors import Forbidden, NotFound, Unauthorized
from msp.policy.models import PolicyChange
from msp.tenancy.scope import get_scoped
from msp.web.blueprint import bp
from msp.web.domain_words import STAGES
from msp.web.shell import view_as_tenant

OPEN_CHANGE = ("proposed", "approved", "scheduled")


@dataclass(frozen=True)
class Confirmation:
    """One question: what is asked, what follows, the button naming its object, where the
    form posts (with which hidden fields) and where "Cancel" goes back to."""

    title: str
    consequence: str
    button: str
    post_url: str
    cancel_url: str
    fields: tuple[tuple[str, str], ...] = ()
    note_label: str | None = None  # a free-text reason, posted as "note"


def confirm_page(confirmation: Confirmation) -> str:
    """The question, unless nothing may be changed (viewing as the client: read only)."""
    if view_as_tenant() is not None:
        raise Forbidden("you are viewing as the client (read only): leave that view first")
    return render_template("confirm.html", principal=current_principal(), c=confirmation)


@bp.get("/domains/<int:domain_id>/escalations/<int:change_id>/reject")
def reject_change_confirm(domain_id: int, change_id: int) -> str:
    """Reject an open escalation? (with the reason kept in the timeline)"""
    if current_principal() is None:
        raise Unauthorized("log in first")
    domain = get_scoped(Domain, domain_id)
    require_manage(domain.tenant_id)
    change = get_scoped(PolicyChange, change_id)
    if change.domain_id != domain.id or change.status not in OPEN_CHANGE:
        raise NotFound("this change is not open (any more)")
    stays = STAGES.get(change.from_stage, change.from_stage)
    return confirm_page(
        Confirmation(
            title=f"Reject the move of {domain.name} to {change.to_stage}?",
            consequence=f"The domain stays at {stays}. The engine may propose the move again "
            "when its checks pass on a later day.",
            button=f"Reject move to {change.to_stage}",
            post_url=url_for("web.reject_change", domain_id=domain.id, change_id=change.id),
            cancel_url=url_for("web.domain_view", domain_id=domain.id) + "#plan",
            note_label="Why (kept in the timeline)",
        )
    )
