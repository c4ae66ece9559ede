"""Account pages: log in, log out (and, later, password and second-factor pages)."""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from msp.auth import service
from msp.auth.request import SESSION_KEY, client_ip
from msp.db import utcnow
from msp.errors import TooManyRequests, Unauthorized
from msp.extensions import csrf, db
from msp.web.blueprint import bp


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
            session.clear()
            session[SESSION_KEY] = service.open_session(
                user,
                client_ip(),
                request.headers.get("User-Agent", ""),
                current_app.config["MSP_SESSION_HOURS"],
                utcnow(),
            )
            session.permanent = True
            return redirect(url_for("web.dashboard"))
    return render_template("login.html", error=error), status


@bp.post("/logout")
def logout() -> Response:
    csrf.protect()
    raw = session.pop(SESSION_KEY, None)
    if raw:
        service.close_session(raw, utcnow())
    return redirect(url_for("web.login"))
