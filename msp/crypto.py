"""Encryption of stored secrets (mailbox passwords, webhook signing keys) with the Fernet key
``MSP_ENCRYPTION_KEY``: the one place that does it, for every area."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class SecretKeyError(ValueError):
    """No key, a key that is not a Fernet key, or a key that does not open the stored secret."""


def fernet(key: str | None) -> Fernet:
    if not key:
        raise SecretKeyError("MSP_ENCRYPTION_KEY is not set: secrets cannot be stored or read")
    try:
        return Fernet(key.encode())
    except ValueError as exc:
        raise SecretKeyError("MSP_ENCRYPTION_KEY is not a valid Fernet key") from exc


def encrypt(text: str, key: str | None) -> str:
    return fernet(key).encrypt(text.encode()).decode()


def decrypt(token: str, key: str | None) -> str:
    try:
        return fernet(key).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretKeyError("a stored secret cannot be decrypted with this key") from exc
