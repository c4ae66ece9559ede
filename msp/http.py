"""HTTP guards around the whole app: the request body limit for streamed (chunked) bodies, the
security headers of every response, and which proxies' ``X-Forwarded-*`` headers are trusted.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from msp.errors import problem

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

READ_CHUNK = 64 * 1024
SPOOL_IN_MEMORY = 1024 * 1024  # a streamed body above this waits in a temporary file

# Pages: scripts, styles and everything else from this origin only (the templates have no
# inline script or style); never framed (clickjacking). Other responses (JSON, files) load
# nothing at all.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'"
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


class StreamedBodyLimit:
    """Refuses a body longer than ``limit`` with 413: one whose ``Content-Length`` says so at
    once, and one sent without it (chunked) once it has passed the limit. Werkzeug enforces
    ``MAX_CONTENT_LENGTH`` on a chunked body by cutting it at the limit, so an over-long
    upload would be stored truncated and accepted.

    The body is read here, up to one byte over the limit, into a spooled temporary file, and
    handed on with its length as if it had been sent with ``Content-Length``.
    """

    def __init__(self, app: WSGIApplication, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        declared = str(environ.get("CONTENT_LENGTH") or "")
        if declared.isdigit() and int(declared) > self.limit:  # refused before any view runs
            return _too_large(environ, self.limit)(environ, start_response)
        if declared or "wsgi.input_terminated" not in environ:
            return self.app(environ, start_response)
        body = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (below)
        size = _copy_at_most(environ["wsgi.input"], body, self.limit + 1)
        if size > self.limit:
            body.close()
            return _too_large(environ, self.limit)(environ, start_response)
        body.seek(0)
        environ["wsgi.input"] = body
        environ["CONTENT_LENGTH"] = str(size)
        del environ["wsgi.input_terminated"]
        # Werkzeug ignores Content-Length while the request says it was chunked (and then reads
        # an empty body): the body is no longer chunked for the app.
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        try:
            return self.app(environ, start_response)
        finally:
            body.close()  # Flask has handled the request (read its body) when it returns


def _too_large(environ: WSGIEnvironment, limit: int) -> WSGIApplication:
    """413 as problem details for the API, Werkzeug's page elsewhere."""
    detail = f"the request body is over {limit} bytes"
    if not str(environ.get("PATH_INFO", "")).startswith("/api/"):
        return RequestEntityTooLarge(detail).get_response(environ)
    body = json.dumps(problem(413, "Request Entity Too Large", detail))
    return Response(body, status=413, mimetype="application/problem+json")


def _copy_at_most(source: Any, target: Any, most: int) -> int:
    copied = 0
    while copied < most:
        chunk = source.read(min(READ_CHUNK, most - copied))
        if not chunk:
            break
        target.write(chunk)
        copied += len(chunk)
    return copied


def security_headers(response: Response) -> Response:
    """Set on every response; a view that needs another policy sets its own first."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    csp = PAGE_CSP if response.mimetype == "text/html" else OTHER_CSP
    response.headers.setdefault("Content-Security-Policy", csp)
    return response


def init_app(app: Flask) -> None:
    """Install the guards: the body limit innermost, then the trusted proxies (so the limit's
    413 and the app both see the client's address and scheme)."""
    app.after_request(security_headers)
    limit = app.config.get("MAX_CONTENT_LENGTH")
    if limit:
        app.wsgi_app = StreamedBodyLimit(app.wsgi_app, int(limit))  # type: ignore[method-assign]
    proxies = int(app.config.get("MSP_TRUSTED_PROXIES") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
