"""Endpoint secrets (webhook signing keys, ...) stored as one encrypted token over a JSON
object, with ``msp.crypto``."""

from __future__ import annotations

import json

from msp.crypto import SecretKeyError, decrypt, encrypt

SecretStoreError = SecretKeyError  # the name this area's callers catch


def seal(values: dict[str, str], key: str | None) -> str:
    """The secret ``values`` as one encrypted token ("" when there are none)."""
    if not values:
        return ""
    return encrypt(json.dumps(values, sort_keys=True), key)


def unseal(token: str, key: str | None) -> dict[str, str]:
    """The secret values sealed in ``token``."""
    if not token:
        return {}
    values = json.loads(decrypt(token, key))
    return {str(k): str(v) for k, v in values.items()}
