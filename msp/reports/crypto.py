"""Encryption of stored mailbox credentials (Fernet, key from ``MSP_ENCRYPTION_KEY``)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class CredentialError(ValueError):
    """A stored credential cannot be decrypted (wrong or rotated key)."""


def _fernet(key: str) -> Fernet:
    if not key:
        raise CredentialError("MSP_ENCRYPTION_KEY is not set")
    try:
        return Fernet(key.encode())
    except ValueError:
        # Accept any secret string by deriving a Fernet key from it.
        derived = base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())
        return Fernet(derived)


def encrypt(secret: str, key: str) -> str:
    return _fernet(key).encrypt(secret.encode()).decode()


def decrypt(token: str, key: str) -> str:
    try:
        return _fernet(key).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialError("stored credential cannot be decrypted with this key") from exc
