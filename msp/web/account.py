"""Account pages: log in and out, forgotten password and reset link, accepting an invitation,
one's own account (profile, password), API tokens, and a tenant's people (members, roles,
invitations). Thin callers of the auth services; every write is CSRF-protected and audited
by the service it calls. Objects are loaded (scoped, 404 outside reach) before the CSRF check,
so another tenant's id answers 404 whatever the request carries."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, session, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from msp.auth import invites, mfa, resets, service, users
from msp.auth.audit import audit
from msp.auth.decorators import require_manage
from msp.auth.mail import send_in_background
from msp.auth.models import TENANT_ROLES, ApiToken, Invitation, Membership, User
from msp.auth.passwords import verify_password
from msp.auth.principal import Principal, current_principal
from msp.auth.request import SESSION_KEY, client_ip, current_session_raw
from msp.db import utcnow
from msp.errors import AppError, Forbidden, NotFound, TooManyRequests, Unauthorized
from msp.extensions import csrf, db
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped, require_principal, scoped_select
from msp.web.blueprint import bp
from msp.web.confirm import Confirmation, confirm_page

MFA_PENDING_KEY = "mfa_pending"
MFA_PENDING_SECONDS = 300
# What an MSP staff member who must set up a second factor may still open.
MFA_SETUP_ENDPOINTS = frozenset(
    {"web.account", "web.logout", "web.login", "web.login_mfa", "web.static"}
)


def _start_session(user: User) -> None:
    session.clear()
    session[SESSION_KEY] = service.open_session(
        user,
        client_ip(),
        request.headers.get("User-Agent", ""),
        current_app.config["MSP_SESSION_HOURS"],
        utcnow(),
    )
    session.permanent = True


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    status = 200
    if request.method == "POST":
        csrf.protect()
        try:
            user = service.authenticate(
                request.form.get("email", ""),
                request.form.get("password", ""),
                client_ip(),
                current_app.config["MSP_LOGIN_RATE_LIMIT"],
                utcnow(),
            )
        except (Unauthorized, TooManyRequests) as exc:
            db.session.commit()  # keep the failed attempt for the rate limit
            error, status = exc.detail, exc.status
        else:
            if mfa.enabled(user):
                session.clear()
                session[MFA_PENDING_KEY] = [user.id, int(utcnow().timestamp())]
                return redirect(url_for("web.login_mfa"))
            _start_session(user)
            return redirect(url_for("web.dashboard"))
    return render_template("login.html", error=error), status


def _pending_mfa_user() -> User | None:
    """The user who gave the right password moments ago and owes the second factor."""
    pending = session.get(MFA_PENDING_KEY)
    if not isinstance(pending, list) or len(pending) != 2:
        return None
    user_id, at = pending
    if not isinstance(at, int) or utcnow().timestamp() - at > MFA_PENDING_SECONDS:
        return None
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    return user if user is not None and user.is_active else None


@bp.route("/login/mfa", methods=["GET", "POST"])
def login_mfa() -> Any:
    """The second step of a login: a code from the authenticator app, or a recovery code.
    Wrong codes count against the account like wrong passwords (the same back-off)."""
    user = _pending_mfa_user()
    if user is None:
        session.pop(MFA_PENDING_KEY, None)
        return redirect(url_for("web.login"))
    error, status = None, 200
    if request.method == "POST":
        csrf.protect()
        try:
            service.check_login_rate(
                client_ip(), current_app.config["MSP_LOGIN_RATE_LIMIT"], utcnow()
            )
            service.check_account_backoff(user.email, utcnow())
        except TooManyRequests as exc:
            error, status = exc.detail, exc.status
        else:
            key = current_app.config.get("MSP_ENCRYPTION_KEY")
            if mfa.check(user, request.form.get("code", ""), now=utcnow(), key=key):
                _start_session(user)
                return redirect(url_for("web.dashboard"))
            service.record_login_failure(user.email, client_ip(), utcnow())
            db.session.commit()
            error, status = "That code is not right.", 401
    return render_template("account/mfa_login.html", principal=None, error=error), status


@bp.post("/logout")
def logout() -> Response:
    csrf.protect()
    raw = session.pop(SESSION_KEY, None)
    if raw:
        service.close_session(raw, utcnow())
    return redirect(url_for("web.login"))


@bp.before_request
def require_mfa_enrolment() -> Response | None:
    """MSP staff who must use a second factor set it up before anything else."""
    principal = current_principal()
    if principal is None or request.endpoint in MFA_SETUP_ENDPOINTS:
        return None
    if principal.owes_second_factor:
        flash("Set up a second factor (an authenticator app) to continue.", "error")
        return redirect(url_for("web.account", _anchor="mfa"))
    return None


# --- forgotten password ----------------------------------------------------------------------


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password() -> Any:
    sent = False
    if request.method == "POST":
        csrf.protect()
        outgoing = resets.request_reset(request.form.get("email", ""), now=utcnow())
        db.session.commit()  # the link must work by the time the e-mail arrives
        send_in_background(outgoing)
        sent = True  # the same answer, as fast, whether or not the address has an account
    return render_template("account/forgot.html", principal=current_principal(), sent=sent)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Any:
    resets.open_reset(token, utcnow())  # 404 for a used, expired or unknown link
    error = None
    if request.method == "POST":
        csrf.protect()
        password = request.form.get("password", "")
        if password != request.form.get("confirm", ""):
            error = "The two passwords differ."
        else:
            try:
                resets.reset_password(token, password, now=utcnow())
            except AppError as exc:
                error = exc.detail
            else:
                session.pop(SESSION_KEY, None)
                flash("Your password is changed and every session ended. Log in again.", "ok")
                return redirect(url_for("web.login"))
    return render_template("account/reset.html", principal=None, error=error), (
        422 if error else 200
    )


# --- invitations -----------------------------------------------------------------------------


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept_invite(token: str) -> Any:
    invitation = invites.open_invitation(token, utcnow())  # 404 unless open
    tenant = db.session.get_one(Tenant, invitation.tenant_id)
    # The holder of the link owns the address, so telling them about their account is fine.
    existing = invites.account_exists(invitation.email)
    error = None
    if request.method == "POST":
        csrf.protect()
        try:
            user = invites.accept(
                token,
                password=request.form.get("password") or None,
                name=request.form.get("name", ""),
                now=utcnow(),
            )
        except AppError as exc:
            error = exc.detail
        else:
            if existing:
                flash(f"You have joined {tenant.name}. Log in with your account.", "ok")
                return redirect(url_for("web.login"))
            db.session.flush()
            _start_session(user)
            flash(f"Welcome to {tenant.name}.", "ok")
            return redirect(url_for("web.dashboard"))
    return render_template(
        "account/invite.html",
        principal=current_principal(),
        invitation=invitation,
        tenant=tenant,
        existing=existing,
        error=error,
    ), (422 if error else 200)


# --- own account -----------------------------------------------------------------------------


def _signed_in_user() -> tuple[Principal, User] | None:
    principal = current_principal()
    if principal is None or principal.kind != "user" or principal.user_id is None:
        return None
    return principal, db.session.get_one(User, principal.user_id)


@bp.route("/account", methods=["GET", "POST"])
def account() -> Any:
    signed_in = _signed_in_user()
    if signed_in is None:
        return redirect(url_for("web.login"))
    principal, user = signed_in
    shown: dict[str, Any] = {}
    error = None
    if request.method == "POST":
        csrf.protect()
        action = request.form.get("action", "")
        try:
            if action.startswith("mfa_"):
                shown = _mfa_change(user, action)
            else:
                _account_change(principal, user, action)
        except AppError as exc:
            error = exc.detail
        if error is None and not shown:
            return redirect(url_for("web.account"))
    if user.totp_secret is not None and not mfa.enabled(user) and "enrolment" not in shown:
        shown["enrolment"] = mfa.enrolment_of(user, key=_key())
    return render_template(
        "account/account.html",
        principal=principal,
        user=user,
        error=error,
        mfa_enabled=mfa.enabled(user),
        mfa_required=mfa.required(user, current_app.config),
        **shown,
    ), (422 if error else 200)


def _key() -> str | None:
    return current_app.config.get("MSP_ENCRYPTION_KEY")


def _account_change(principal: Principal, user: User, action: str) -> None:
    """Apply the profile or password form of the account page (AppError when refused)."""
    form = request.form
    if action == "profile":
        users.update_user(principal, user, {"name": form.get("name", "")[:200]})
        flash("Your name is saved.", "ok")
        return
    if action != "password":
        raise NotFound("unknown action")
    if not verify_password(user.password_hash, form.get("current", "")):
        raise Unauthorized("Your current password is not right.")
    if form.get("password", "") != form.get("confirm", ""):
        raise Unauthorized("The two new passwords differ.")
    ended = users.set_password(
        user, form.get("password", ""), keep_session_raw=current_session_raw()
    )
    flash(f"Your password is changed; {ended} other session(s) ended.", "ok")


def _mfa_change(user: User, action: str) -> dict[str, Any]:
    """The second-factor forms: start, confirm (recovery codes shown once), new recovery
    codes or turning it off (both need a current code). What the page shows next."""
    code = request.form.get("code", "")
    if action == "mfa_begin":
        return {"enrolment": mfa.begin(user, key=_key())}
    if action == "mfa_confirm":
        return {"recovery_codes": mfa.confirm(user, code, now=utcnow(), key=_key())}
    if not mfa.check(user, code, now=utcnow(), key=_key()):
        raise Unauthorized("That code is not right.")
    if action == "mfa_codes":
        return {"recovery_codes": mfa.regenerate_recovery_codes(user)}
    if action == "mfa_disable":
        if mfa.required(user, current_app.config):
            raise Forbidden("MSP staff must keep a second factor")
        mfa.disable(user)
        flash("The second factor is turned off.", "ok")
        return {}
    raise NotFound("unknown action")


# --- API tokens ------------------------------------------------------------------------------


def _own_tokens(principal: Principal) -> list[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.created_by_id == principal.user_id)
    return list(db.session.scalars(stmt.order_by(ApiToken.id.desc())))


@bp.route("/account/tokens", methods=["GET", "POST"])
def tokens() -> Any:
    signed_in = _signed_in_user()
    if signed_in is None:
        return redirect(url_for("web.login"))
    principal, _user = signed_in
    secret, error = None, None
    if request.method == "POST":
        csrf.protect()
        try:
            secret = _token_change(principal)
        except AppError as exc:
            error = exc.detail
    tenants = list(db.session.scalars(scoped_select(Tenant).order_by(Tenant.name).limit(500)))
    return render_template(
        "account/tokens.html",
        principal=principal,
        needs_code=mfa.enabled(_user),
        tokens=_own_tokens(principal),
        tenants=tenants,
        secret=secret,
        error=error,
        now=utcnow(),
    ), (422 if error else 200)


@bp.get("/account/tokens/<int:token_id>/revoke")
def revoke_token_confirm(token_id: int) -> Any:
    """Revoke this token? (the POST is the tokens page's "revoke")"""
    principal = current_principal()
    if principal is None:
        return redirect(url_for("web.login"))
    token = _own_token(principal, token_id)
    return confirm_page(
        Confirmation(
            title=f"Revoke token {token.name}?",
            consequence="Every script or integration that uses it is refused from now on. "
            "This cannot be undone: create a new token if you need one.",
            button=f"Revoke token {token.name}",
            post_url=url_for("web.tokens"),
            cancel_url=url_for("web.tokens"),
            fields=(("action", "revoke"), ("token_id", str(token.id))),
        )
    )


def _own_token(principal: Principal, token_id: int) -> ApiToken:
    if principal.user_id is None:  # a token's caller owns no tokens here (None matches None)
        raise NotFound("token not found")
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.created_by_id == principal.user_id)
    )
    if token is None:
        raise NotFound("token not found")
    return token


def _token_change(principal: Principal) -> str | None:
    """Create (the secret, shown once) or revoke a token of the signed-in user."""
    form = request.form
    if form.get("action") == "revoke":
        token = _own_token(principal, _int(form.get("token_id")))
        service.revoke_token(token, utcnow())
        audit("token.revoke", "api_token", token.id, tenant_id=token.tenant_id)
        flash(f"Token {token.name} is revoked.", "ok")
        return None
    tenant_id = _int(form.get("tenant_id")) or None
    if tenant_id is not None:
        get_scoped(Tenant, tenant_id)
    mfa.require_for_token(
        db.session.get(User, principal.user_id) if principal.user_id else None,
        form.get("code"),
        now=utcnow(),
        config=current_app.config,
    )
    issued = service.issue_token(
        principal,
        name=form.get("name", "").strip()[:100] or "token",
        tenant_id=tenant_id,
        role=form.get("role", "tenant_viewer"),
        days=_int(form.get("days")) or 90,
        now=utcnow(),
    )
    audit(
        "token.create",
        "api_token",
        issued.token.id,
        tenant_id=tenant_id,
        changes={"name": issued.token.name, "role": issued.token.role},
    )
    return issued.secret


def _int(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and len(raw) < 12 else 0


# --- a tenant's people -----------------------------------------------------------------------


def _members(tenant: Tenant) -> list[tuple[Membership, User]]:
    stmt = (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant.id)
        .order_by(User.email)
    )
    return [(row[0], row[1]) for row in db.session.execute(stmt).all()]


@bp.get("/tenants/<int:tenant_id>/people")
def people(tenant_id: int) -> Any:
    if current_principal() is None:
        return redirect(url_for("web.login"))
    tenant = get_scoped(Tenant, tenant_id)
    return render_template(
        "account/people.html",
        principal=require_principal(),
        tenant=tenant,
        members=_members(tenant),
        invitations=invites.pending(tenant, now=utcnow()),
        roles=TENANT_ROLES,
    )


def _managed_tenant(tenant_id: int) -> tuple[Tenant, Principal]:
    tenant = get_scoped(Tenant, tenant_id)
    principal = require_manage(tenant.id)
    if request.method != "GET":  # a GET only asks the question (its form carries the token)
        csrf.protect()
    return tenant, principal


def _people_url(tenant: Tenant) -> str:
    return url_for("web.people", tenant_id=tenant.id)


def _member_of(tenant: Tenant, membership_id: int) -> Membership:
    membership = get_scoped(Membership, membership_id)
    if membership.tenant_id != tenant.id:
        raise NotFound(f"membership {membership_id} not found")
    return membership


@bp.post("/tenants/<int:tenant_id>/people/invite")
def invite_person(tenant_id: int) -> Response:
    tenant, principal = _managed_tenant(tenant_id)
    email = request.form.get("email", "")
    try:
        invites.invite(tenant, email, request.form.get("role", ""), by=principal, now=utcnow())
    except AppError as exc:
        flash(exc.detail, "error")
    else:
        flash(f"An invitation is on its way to {email.strip().lower()}.", "ok")
    return redirect(url_for("web.people", tenant_id=tenant.id))


@bp.post("/tenants/<int:tenant_id>/people/<int:membership_id>/role")
def change_person_role(tenant_id: int, membership_id: int) -> Response:
    tenant, _principal = _managed_tenant(tenant_id)
    membership = _member_of(tenant, membership_id)
    try:
        users.change_role(membership, request.form.get("role", ""))
    except AppError as exc:
        flash(exc.detail, "error")
    else:
        flash(f"{membership.user.email} is now {membership.role.replace('_', ' ')}.", "ok")
    return redirect(url_for("web.people", tenant_id=tenant.id))


@bp.route("/tenants/<int:tenant_id>/people/<int:membership_id>/remove", methods=["GET", "POST"])
def remove_person(tenant_id: int, membership_id: int) -> Any:
    """GET: "Remove this person?"; POST: remove their access to the tenant."""
    if current_principal() is None:
        return redirect(url_for("web.login"))
    tenant, _principal = _managed_tenant(tenant_id)
    membership = _member_of(tenant, membership_id)
    email = membership.user.email
    if request.method == "GET":
        return confirm_page(
            Confirmation(
                title=f"Remove {email} from {tenant.name}?",
                consequence=(
                    f"This is you: you lose access to {tenant.name} at once, and only another "
                    "administrator can give it back."
                    if membership.user_id == _principal.user_id
                    else f"{email} will no longer see {tenant.name}. Their account stays; "
                    "you can invite them again later."
                ),
                button=f"Remove {email}",
                post_url=request.path,
                cancel_url=_people_url(tenant),
            )
        )
    try:
        users.remove_membership(membership)
    except AppError as exc:
        flash(exc.detail, "error")
    else:
        flash(f"{email} no longer has access to {tenant.name}.", "ok")
    return redirect(url_for("web.people", tenant_id=tenant.id))


@bp.route(
    "/tenants/<int:tenant_id>/invitations/<int:invitation_id>/revoke", methods=["GET", "POST"]
)
def revoke_invitation(tenant_id: int, invitation_id: int) -> Any:
    """GET: "Revoke this invitation?"; POST: revoke it (its link stops working)."""
    if current_principal() is None:
        return redirect(url_for("web.login"))
    tenant, principal = _managed_tenant(tenant_id)
    invitation = get_scoped(Invitation, invitation_id)
    if invitation.tenant_id != tenant.id:
        raise NotFound(f"invitation {invitation_id} not found")
    if request.method == "GET":
        return confirm_page(
            Confirmation(
                title=f"Revoke the invitation to {invitation.email}?",
                consequence="The link in the e-mail stops working. You can send a new "
                "invitation at any time.",
                button=f"Revoke the invitation to {invitation.email}",
                post_url=request.path,
                cancel_url=_people_url(tenant),
            )
        )
    invites.revoke(invitation, by=principal, now=utcnow())
    flash(f"The invitation to {invitation.email} is revoked.", "ok")
    return redirect(url_for("web.people", tenant_id=tenant.id))
