"""The account e-mails (invitations, password reset links): one small SMTP sender over the
relay the notifications use (the ``MSP_SMTP_*`` settings, read here, never changed).

Sending is best effort: a failure is logged and reported as ``False``, so the caller's answer
is the same whether or not the address exists or the relay is up."""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailSettings:
    host: str | None
    port: int = 587
    starttls: bool = True
    user: str | None = None
    password: str | None = None
    ca_file: str | None = None
    timeout: int = 20
    mail_from: str = "dmarc-platform@localhost"
    base_url: str = "http://127.0.0.1:8000"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MailSettings:
        def get(name: str, default: Any) -> Any:
            value = config.get(f"MSP_{name}")
            return default if value is None else value

        return cls(
            host=config.get("MSP_SMTP_HOST") or None,
            port=int(get("SMTP_PORT", 587)),
            starttls=bool(get("SMTP_STARTTLS", True)),
            user=config.get("MSP_SMTP_USER") or None,
            password=config.get("MSP_SMTP_PASSWORD") or None,
            ca_file=config.get("MSP_SMTP_CA_FILE") or None,
            timeout=int(get("SMTP_TIMEOUT", 20)),
            mail_from=str(get("MAIL_FROM", cls.mail_from)),
            base_url=str(get("BASE_URL", cls.base_url)).rstrip("/"),
        )

    def link(self, path: str) -> str:
        """An absolute link from the configured public URL (never the request's Host header,
        which a caller chooses: a reset link must not point at their server)."""
        return self.base_url + path


def send_mail(settings: MailSettings, to: str, subject: str, text: str) -> bool:
    """Send one plain-text message; False (logged) if there is no relay or it fails."""
    if not settings.host:
        log.warning("account e-mail not sent: MSP_SMTP_HOST is not set", extra={"to": to})
        return False
    mail = EmailMessage()
    mail["Subject"] = subject
    mail["From"] = settings.mail_from
    mail["To"] = to
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or None)
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(text)
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=settings.ca_file))
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        log.warning("account e-mail not sent: %s", exc.__class__.__name__)
        return False
    return True


@dataclass(frozen=True)
class OutgoingMail:
    settings: MailSettings
    to: str
    subject: str
    text: str


def send_in_background(mail: OutgoingMail | None) -> None:
    """Send after the answer, in a thread: an answer that waits for the relay only when an
    account exists would tell, by its time, that it exists."""
    if mail is not None:
        threading.Thread(
            target=send_mail,
            args=(mail.settings, mail.to, mail.subject, mail.text),
            name="account-mail",
            daemon=True,
        ).start()
