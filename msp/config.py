"""Configuration: every ``MSP_*`` setting, parsed and validated once when the app is created.

Each business area declares its own settings in ``msp/<area>/settings.py`` as a list of
:class:`Setting`, named in ``msp/areas.py``; :func:`all_settings` collects them.
:func:`load_config` reads the process environment (or a mapping passed by tests) and returns
plain values keyed by setting name.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from msp.areas import load, settings_modules
from msp.errors import ConfigError

Parser = Callable[[str], Any]


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def parse_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


@dataclass(frozen=True)
class Setting:
    """One ``MSP_<NAME>`` setting: its parser, default and whether it is a secret."""

    name: str
    parse: Parser = str
    default: Any = None
    secret: bool = False
    required_in_production: bool = False
    help: str = ""


CORE_SETTINGS: list[Setting] = [
    Setting("ENV", str, "development", help="development, test or production"),
    Setting(
        "SECRET_KEY",
        str,
        None,
        secret=True,
        required_in_production=True,
        help="signs sessions and CSRF tokens",
    ),
    Setting(
        "ENCRYPTION_KEY",
        str,
        None,
        secret=True,
        required_in_production=True,
        help="Fernet key for stored credentials (mailbox passwords, webhook secrets)",
    ),
    Setting(
        "DATABASE_URL",
        str,
        "sqlite:///instance/msp.sqlite3",
        secret=True,
        help="SQLAlchemy URL; postgresql+psycopg://... in production",
    ),
    Setting(
        "REDIS_URL",
        str,
        None,
        secret=True,
        help="redis://...; unset: jobs run in-process (standalone mode)",
    ),
    Setting("BASE_URL", str, "http://127.0.0.1:8000", help="public URL used in e-mails"),
    Setting("SESSION_HOURS", int, 12, help="web session lifetime"),
    Setting(
        "SECURE_COOKIES", parse_bool, True, help="Secure flag on cookies (off for plain HTTP dev)"
    ),
    Setting("LOGIN_RATE_LIMIT", int, 10, help="failed logins per IP and 15 minutes"),
    Setting(
        "TRUSTED_PROXIES",
        int,
        0,
        help="reverse proxies in front of the app whose X-Forwarded-* headers are trusted",
    ),
    Setting("TOKEN_DEFAULT_DAYS", int, 90, help="default API token lifetime"),
    Setting("JOB_RETRIES", int, 3, help="retries for a failed job (with back-off)"),
    Setting(
        "PAGE_CACHE_SECONDS",
        int,
        60,
        help="the heavy pages and API reads are answered from Redis until the next write, "
        "at most this long (0: never)",
    ),
    Setting(
        "MIRROR_MB",
        int,
        64,
        help="each web process keeps up to this much of what the caches read from Redis, while "
        "Redis says nothing changed (0: always ask Redis)",
    ),
    Setting("LOG_FORMAT", str, "text", help="text or json"),
    Setting("LOG_LEVEL", str, "INFO"),
    Setting(
        "METRICS_TOKEN",
        str,
        None,
        secret=True,
        help="when set, /metrics needs it as the HTTP Basic password",
    ),
]

_PRODUCTION_FORBIDDEN_SECRETS = {"", "dev", "changeme", "secret", "development"}


def all_settings() -> list[Setting]:
    settings = list(CORE_SETTINGS)
    for module_name in settings_modules():
        settings.extend(load(module_name).SETTINGS)
    return settings


def _parse_value(setting: Setting, raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return setting.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"MSP_{setting.name}: {exc}") from exc


def load_config(
    environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Parse ``MSP_*`` from ``environ``; ``overrides`` (keys with or without ``MSP_``) win."""
    given: dict[str, Any] = {}
    for key, value in environ.items():
        if key.startswith("MSP_"):
            given[key[4:]] = value
    for key, value in (overrides or {}).items():
        given[key.removeprefix("MSP_")] = value
    config: dict[str, Any] = {}
    known = all_settings()
    for setting in known:
        raw = given.pop(setting.name, setting.default)
        config[setting.name] = None if raw is None else _parse_value(setting, raw)
    config.update(given)  # extra keys from tests or Flask settings pass through unchanged
    _validate(config, known)
    return config


def _validate(config: dict[str, Any], known: Iterable[Setting]) -> None:
    env = config["ENV"]
    if env not in {"development", "test", "production"}:
        raise ConfigError(f"MSP_ENV must be development, test or production, not {env!r}")
    if config["ENCRYPTION_KEY"]:
        from msp.crypto import SecretKeyError, fernet

        try:
            fernet(config["ENCRYPTION_KEY"])
        except SecretKeyError as exc:
            raise ConfigError(f"MSP_ENCRYPTION_KEY: {exc}") from exc
    if config["LOG_FORMAT"] not in {"text", "json"}:
        raise ConfigError("MSP_LOG_FORMAT must be text or json")
    if env == "production":
        for setting in known:
            value = config.get(setting.name)
            if setting.required_in_production and (
                value is None or str(value).strip().lower() in _PRODUCTION_FORBIDDEN_SECRETS
            ):
                raise ConfigError(f"MSP_{setting.name} must be set to a real secret in production")
        if str(config["DATABASE_URL"]).startswith("sqlite"):
            raise ConfigError("MSP_DATABASE_URL must point at PostgreSQL in production")
    else:
        if not config["SECRET_KEY"]:
            config["SECRET_KEY"] = secrets.token_urlsafe(32)


def redacted(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration with secrets masked, for `msp config` and logs."""
    secret_names = {s.name for s in all_settings() if s.secret}
    return {k: ("***" if k in secret_names and v else v) for k, v in config.items()}
