"""Request guards every route passes before any view runs: no control characters in the path
(PostgreSQL refuses NUL in text, and no identifier of ours holds one) and no JSON nested so
deeply that parsing it would recurse without bound. Both are checked without parsing."""

from __future__ import annotations

import re

from flask import request

from msp.errors import BadRequest

# Far beyond any document this API takes (tenant settings nest three or four levels).
MAX_JSON_DEPTH = 64
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_JSON_STRING_RE = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if ``body`` nests arrays/objects deeper than ``limit`` (or cannot be balanced).

    Strings are dropped and only brackets kept; each round removes the innermost empty pairs
    (C-speed byte replacements), so the cost is ``limit`` passes, never a recursion."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING_RE.sub(b"", body).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        reduced = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if reduced == brackets:
            return True  # unbalanced: not JSON anyway
        brackets = reduced
    return bool(brackets)


def refuse_control_characters_in_path() -> None:
    if _CONTROL_RE.search(request.path):
        raise BadRequest("the URL path contains a control character")


def refuse_deep_json() -> None:
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        return
    if json_too_deep(request.get_data(cache=True)):
        raise BadRequest(f"the JSON document nests deeper than {MAX_JSON_DEPTH} levels")


def guard_request() -> None:
    """Run first for every request (from ``msp.auth.request.load_principal``)."""
    refuse_control_characters_in_path()
    refuse_deep_json()
