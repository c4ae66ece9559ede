"""Configuration is parsed and validated once; production refuses unsafe settings."""

from __future__ import annotations

import pytest

from msp import create_app
from msp.config import load_config, redacted
from msp.errors import ConfigError

PROD = {
    "MSP_ENV": "production",
    "MSP_SECRET_KEY": "a-long-random-secret-value-for-tests",
    "MSP_ENCRYPTION_KEY": "kP3q0T0bY3m4lQyYv8n2F6m0b1hS9dQzR5wX7cV2a4E=",
    "MSP_DATABASE_URL": "postgresql+psycopg://db.internal/msp",
}


@pytest.mark.parametrize("secret", [None, "", "changeme", "dev", "secret"])
def test_production_refuses_a_missing_or_default_secret_key(secret: str | None) -> None:
    env = {k: v for k, v in PROD.items() if k != "MSP_SECRET_KEY"}
    if secret is not None:
        env["MSP_SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match="MSP_SECRET_KEY"):
        load_config(env)


def test_production_refuses_sqlite() -> None:
    with pytest.raises(ConfigError, match="PostgreSQL"):
        load_config({**PROD, "MSP_DATABASE_URL": "sqlite:///x.db"})


def test_production_settings_parse_and_secrets_are_redacted() -> None:
    config = load_config({**PROD, "MSP_SESSION_HOURS": "8", "MSP_SECURE_COOKIES": "yes"})
    assert config["SESSION_HOURS"] == 8 and config["SECURE_COOKIES"] is True
    shown = redacted(config)
    assert shown["SECRET_KEY"] == "***" and shown["DATABASE_URL"] == "***"


def test_bad_values_are_named_in_the_error() -> None:
    with pytest.raises(ConfigError, match="MSP_SESSION_HOURS"):
        load_config({"MSP_SESSION_HOURS": "eight"})
    with pytest.raises(ConfigError, match="MSP_SECURE_COOKIES"):
        load_config({"MSP_SECURE_COOKIES": "maybe"})
    with pytest.raises(ConfigError, match="MSP_ENV"):
        load_config({"MSP_ENV": "staging"})


def test_create_app_takes_a_mapping_and_ignores_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MSP_ENV", "production")  # would refuse to start if it were read
    app = create_app({"DATABASE_URL": "sqlite:///:memory:", "SESSION_HOURS": 3})
    assert app.config["MSP_SESSION_HOURS"] == 3
    assert app.config["MSP_ENV"] == "development"


def test_an_encryption_key_that_is_not_a_fernet_key_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="MSP_ENCRYPTION_KEY"):
        load_config({"MSP_ENCRYPTION_KEY": "just a password"})


def test_secrets_round_trip_and_a_wrong_key_is_a_named_error() -> None:
    from cryptography.fernet import Fernet

    from msp.crypto import SecretKeyError, decrypt, encrypt

    key, other = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    assert decrypt(encrypt("imap password", key), key) == "imap password"
    with pytest.raises(SecretKeyError):
        decrypt(encrypt("imap password", key), other)
    with pytest.raises(SecretKeyError):
        encrypt("x", None)
