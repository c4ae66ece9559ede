"""Password hashing with argon2 (argon2-cffi), and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from msp.errors import ValidationFailed

_hasher = PasswordHasher()
MIN_LENGTH = 12
# A hash of a random password, verified when the user is unknown so timing does not tell.
_DUMMY_HASH = _hasher.hash("not-a-real-password-xyz")


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(
            f"password must have at least {MIN_LENGTH} characters",
            errors={"password": ["too short"]},
        )
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False
