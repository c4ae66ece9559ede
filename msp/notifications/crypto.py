"""Encryption of endpoint secrets (webhook signing keys, ...) with the Fernet key
``MSP_ENCRYPTION_KEY``. Secrets are stored as one Fernet token over a JSON object.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken


class SecretStoreError(ValueError):
    """Secrets cannot be stored or read: no key, or a key that does not open them."""


def _fernet(key: str | None) -> Fernet:
    if not key:
        raise SecretStoreError("MSP_ENCRYPTION_KEY is not set: endpoint secrets cannot be stored")
    try:
        return Fernet(key.encode())
    except ValueError as exc:
        raise SecretStoreError("MSP_ENCRYPTION_KEY is not a valid Fernet key") from exc


def seal(values: dict[str, str], key: str | None) -> str:
    """The secret ``values`` as one encrypted token ("" when there are none)."""
    if not values:
        return ""
    return _fernet(key).encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def unseal(token: str, key: str | None) -> dict[str, str]:
    """The secret values sealed in ``token``."""
    if not token:
        return {}
    try:
        raw = _fernet(key).decrypt(token.encode())
    except InvalidToken as exc:
        raise SecretStoreError("endpoint secrets cannot be decrypted with this key") from exc
    values = json.loads(raw)
    return {str(k): str(v) for k, v in values.items()}
