"""Fixtures of the notification tests: a real SMTP server, real webhook receivers, and the
app configured to use them (loopback webhooks allowed, retries without waiting).

The app is the suite's own (tests/conftest.py): the factory registers the notifications API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from flask import Flask

from tests.notifications.servers import Hook, MailSink, smtp_server, webhook_server


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    with smtp_server() as sink:
        yield sink


@pytest.fixture
def hooks() -> Iterator[Callable[[], Hook]]:
    """A factory of webhook receivers, each on its own free port."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(webhook_server())


@pytest.fixture
def notify_config(
    app: Flask, db_session: Any, mail_sink: MailSink, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "MSP_SMTP_HOST": "127.0.0.1",
        "MSP_SMTP_PORT": mail_sink.port,
        "MSP_SMTP_STARTTLS": False,
        "MSP_MAIL_FROM": "dmarc@msp.example",
        "MSP_WEBHOOK_ALLOW_PRIVATE": True,
        "MSP_WEBHOOK_TIMEOUT": 5,
        "MSP_NOTIFY_RETRY_SECONDS": [0, 0],
    }
    for key, value in values.items():
        monkeypatch.setitem(app.config, key, value)
    return values
