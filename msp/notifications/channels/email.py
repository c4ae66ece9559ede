"""The e-mail channel: a multipart (text + HTML) message through the configured SMTP relay."""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from msp.notifications.channels.base import (
    Channel,
    ChannelConfigError,
    ChannelField,
    DeliveryError,
    Message,
    Target,
    require_fields,
)
from msp.notifications.settings import NotifySettings

# Deliberately plain: one @, no spaces, no CR/LF (header injection), a dotted domain.
ADDRESS_RE = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z0-9-]{2,63}$")
MAX_RECIPIENTS = 50

FIELDS = (ChannelField("to", "recipient addresses", many=True),)


def validate(values: dict[str, Any]) -> dict[str, Any]:
    errors = require_fields(FIELDS, values)
    raw = values.get("to")
    addresses = [raw] if isinstance(raw, str) else list(raw or [])
    bad = [a for a in addresses if not isinstance(a, str) or not ADDRESS_RE.match(a.strip())]
    if bad:
        errors["to"] = [f"not an e-mail address: {a!r}" for a in bad]
    elif len(addresses) > MAX_RECIPIENTS:
        errors["to"] = [f"at most {MAX_RECIPIENTS} recipients"]
    if errors:
        raise ChannelConfigError(errors)
    return {"to": sorted({a.strip().lower() for a in addresses})}


def build(message: Message, target: Target, settings: NotifySettings) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = settings.mail_from
    mail["To"] = ", ".join(target.config["to"])
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or None)
    mail["Auto-Submitted"] = "auto-generated"
    if target.delivery_id:
        mail["X-MSP-Delivery"] = str(target.delivery_id)
    mail.set_content(message.text)
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    return mail


def _smtp_error(exc: smtplib.SMTPException) -> DeliveryError:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return DeliveryError(f"all recipients refused: {sorted(exc.recipients)}", permanent=True)
    code = getattr(exc, "smtp_code", 0)
    detail = getattr(exc, "smtp_error", b"")
    text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(exc)
    return DeliveryError(f"SMTP {code or 'error'}: {text or exc}", permanent=500 <= code < 600)


def smtp_send(mail: EmailMessage, settings: NotifySettings) -> dict[str, Any]:
    """Send ``mail`` through the relay; the recipients it refused (DeliveryError if all)."""
    if not settings.smtp_host:
        raise DeliveryError("MSP_SMTP_HOST is not set", permanent=True)
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=settings.smtp_ca_file))
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            return dict(smtp.send_message(mail))
    except smtplib.SMTPException as exc:
        raise _smtp_error(exc) from exc
    except OSError as exc:
        raise DeliveryError(f"SMTP connection failed: {exc}") from exc


def send(message: Message, target: Target, settings: NotifySettings) -> str:
    if not settings.smtp_host:
        raise DeliveryError("MSP_SMTP_HOST is not set", permanent=True)
    refused = smtp_send(build(message, target, settings), settings)
    accepted = len(target.config["to"]) - len(refused)
    receipt = f"accepted for {accepted} recipient(s)"
    return receipt + (f"; refused {sorted(refused)}" if refused else "")


CHANNEL = Channel(kind="email", label="E-mail", fields=FIELDS, validate=validate, send=send)
