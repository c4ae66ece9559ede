"""The channels against real receivers: SMTP (aiosmtpd) and HTTP (http.server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from msp.notifications.channels import (
    ChannelConfigError,
    DeliveryError,
    Message,
    Target,
    UnknownChannel,
    email,
    get_channel,
    registry,
    webhook,
)
from msp.notifications.settings import NotifySettings
from tests.notifications.servers import Hook, MailSink

SECRET = "s3cret-s3cret-s3cret"
MESSAGE = Message(
    subject="DMARC alert",
    text="plain words\n",
    html="<p>rich <b>words</b></p>",
    data={"type": "event", "event": {"kind": "dns.drift"}},
)


def _settings(**changes: object) -> NotifySettings:
    base = dict(
        smtp_starttls=False,
        webhook_allow_private=True,
        webhook_timeout=5,
        mail_from="dmarc@msp.example",
    )
    base.update(changes)
    return NotifySettings(**base)  # type: ignore[arg-type]


def test_registry_declares_each_channel_and_its_secret_fields() -> None:
    channels = registry()
    assert set(channels) == {"email", "webhook", "slack", "teams"}
    assert channels["webhook"].secret_fields == {"secret"}
    assert channels["email"].secret_fields == frozenset()
    with pytest.raises(UnknownChannel):
        get_channel("carrier-pigeon")


def test_email_sends_text_and_html_through_smtp(mail_sink: MailSink) -> None:
    target = Target(
        config={"to": ["ops@client.example", "desk@client.example"]}, secrets={}, delivery_id=7
    )
    receipt = email.send(
        MESSAGE, target, _settings(smtp_host="127.0.0.1", smtp_port=mail_sink.port)
    )
    assert receipt == "accepted for 2 recipient(s)"
    [(sender, recipients, mail)] = mail_sink.received
    assert sender == "dmarc@msp.example"
    assert sorted(recipients) == ["desk@client.example", "ops@client.example"]
    assert mail["Subject"] == "DMARC alert" and mail["X-MSP-Delivery"] == "7"
    parts = {
        p.get_content_type(): p.get_payload(decode=True)
        for p in mail.walk()
        if not p.is_multipart()
    }
    assert parts["text/plain"].strip() == b"plain words"
    assert b"<b>words</b>" in parts["text/html"]


def test_email_without_a_relay_fails_permanently() -> None:
    with pytest.raises(DeliveryError) as failure:
        email.send(MESSAGE, Target(config={"to": ["a@b.example"]}, secrets={}), _settings())
    assert failure.value.permanent


def test_email_to_a_closed_port_is_a_transient_failure() -> None:
    from tests.support.net import free_port

    with pytest.raises(DeliveryError) as failure:
        email.send(
            MESSAGE,
            Target(config={"to": ["a@b.example"]}, secrets={}),
            _settings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout=2),
        )
    assert not failure.value.permanent


@pytest.mark.parametrize(
    "to",
    [
        [],
        ["not-an-address"],
        ["a@b.example\r\nBcc: x@y.example"],
        "x@y",
        [f"u{i}@b.example" for i in range(51)],
    ],
)
def test_email_configuration_is_validated(to: object) -> None:
    with pytest.raises(ChannelConfigError) as failure:
        email.validate({"to": to})
    assert "to" in failure.value.errors


def test_email_configuration_is_normalised() -> None:
    assert email.validate({"to": ["B@x.example", "a@x.example", "b@x.example"]}) == {
        "to": ["a@x.example", "b@x.example"]
    }


def test_webhook_posts_json_signed_over_the_raw_body(hooks: Callable[[], Hook]) -> None:
    hook = hooks()
    target = Target(config={"url": hook.url}, secrets={"secret": SECRET}, delivery_id=9, attempt=2)
    assert webhook.send(MESSAGE, target, _settings()) == "HTTP 200"
    [(headers, body)] = hook.received
    assert headers["content-type"] == "application/json"
    assert webhook.verify(body, SECRET, headers["x-msp-signature"])
    assert not webhook.verify(body, "another-secret-value", headers["x-msp-signature"])
    assert not webhook.verify(body + b" ", SECRET, headers["x-msp-signature"])
    document = json.loads(body)
    assert document["delivery_id"] == 9 and document["attempt"] == 2
    assert document["event"] == {"kind": "dns.drift"}
    assert headers["x-msp-delivery"] == "9" and headers["x-msp-event"] == "event"


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(500, False), (503, False), (429, False), (404, True), (410, True), (302, True)],
)
def test_webhook_status_codes_decide_whether_a_retry_can_help(
    hooks: Callable[[], Hook], status: int, permanent: bool
) -> None:
    hook = hooks()
    hook.statuses = [status]
    target = Target(config={"url": hook.url}, secrets={"secret": SECRET})
    with pytest.raises(DeliveryError) as failure:
        webhook.send(MESSAGE, target, _settings())
    assert failure.value.permanent is permanent
    assert len(hook.received) == 1  # a redirect is not followed


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://10.1.2.3/x",
        "http://[::1]:9/x",
        "http://169.254.169.254/",
        "http://[::ffff:127.0.0.1]/x",
        "http://0.0.0.0/x",
    ],
)
def test_webhook_refuses_non_public_targets_by_default(url: str) -> None:
    target = Target(config={"url": url}, secrets={"secret": SECRET})
    with pytest.raises(webhook.UnsafeTarget) as failure:
        webhook.send(MESSAGE, target, _settings(webhook_allow_private=False))
    assert failure.value.permanent


def test_webhook_connects_to_the_address_the_guard_checked(
    hooks: Callable[[], Hook], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is resolved once, by the guard; the POST goes to that address with the name in
    Host (a DNS answer changing between check and connect cannot redirect it)."""
    from msp.netguard import Guard
    from msp.notifications.channels import http

    hook = hooks()
    port = hook.url.split(":")[2].split("/")[0]
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(http, "guard_of", lambda s: Guard(allow_private=True, resolver=resolver))
    target = Target(
        config={"url": f"http://hooks.tenant.test:{port}/hook"}, secrets={"secret": SECRET}
    )
    assert webhook.send(MESSAGE, target, _settings()) == "HTTP 200"
    [(headers, _)] = hook.received
    assert headers["host"] == f"hooks.tenant.test:{port}" and lookups == ["hooks.tenant.test"]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"url": "ftp://x.example/", "secret": SECRET}, "url"),
        ({"url": "https://user:pw@x.example/", "secret": SECRET}, "url"),
        ({"url": "https://x.example/", "secret": "short"}, "secret"),
        ({"secret": SECRET}, "url"),
        ({"url": "https://x.example/", "secret": SECRET, "colour": "red"}, "colour"),
    ],
)
def test_webhook_configuration_is_validated(values: dict[str, str], field: str) -> None:
    with pytest.raises(ChannelConfigError) as failure:
        webhook.validate(values)
    assert field in failure.value.errors


def test_channel_split_separates_secrets_from_plain_configuration() -> None:
    plain, secrets = get_channel("webhook").split({"url": "https://x.example/h", "secret": SECRET})
    assert plain == {"url": "https://x.example/h"} and secrets == {"secret": SECRET}


def test_email_upgrades_with_starttls_verifies_the_relay_and_logs_in(tmp_path: Any) -> None:
    import ssl

    import trustme

    from tests.notifications.servers import smtp_server

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "relay-ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    target = Target(config={"to": ["ops@client.example"]}, secrets={})
    with smtp_server(server_context, login=("relay-user", "relay-pass")) as sink:
        settings = _settings(
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            smtp_starttls=True,
            smtp_ca_file=str(ca_file),
            smtp_user="relay-user",
            smtp_password="relay-pass",
        )
        assert email.send(MESSAGE, target, settings) == "accepted for 1 recipient(s)"
        wrong = _settings(
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            smtp_starttls=True,
            smtp_ca_file=str(ca_file),
            smtp_user="relay-user",
            smtp_password="wrong",
        )
        with pytest.raises(DeliveryError) as refused:
            email.send(MESSAGE, target, wrong)
        assert refused.value.permanent and "535" in str(refused.value)
        untrusted = _settings(smtp_host="127.0.0.1", smtp_port=sink.port, smtp_starttls=True)
        with pytest.raises(DeliveryError) as unverified:
            email.send(MESSAGE, target, untrusted)
        assert "CERTIFICATE_VERIFY_FAILED" in str(unverified.value)
    assert len(sink.received) == 1


def test_webhook_over_https_pins_the_address_and_still_verifies_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ssl

    import trustme

    from tests.notifications.servers import webhook_server

    authority = trustme.CA()
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    from msp.notifications.channels import http

    monkeypatch.setattr(http, "_tls_context", lambda: client_context)
    for name, ok in (("localhost", True), ("elsewhere.example", False)):
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert(name).configure_cert(server_context)
        with webhook_server(tls_context=server_context, host="localhost") as hook:
            target = Target(config={"url": hook.url}, secrets={"secret": SECRET})
            if ok:
                assert webhook.send(MESSAGE, target, _settings()) == "HTTP 200"
                [(headers, body)] = hook.received
                assert headers["host"] == hook.url.split("/")[2]
                assert webhook.verify(body, SECRET, headers["x-msp-signature"])
            else:
                with pytest.raises(DeliveryError) as failure:
                    webhook.send(MESSAGE, target, _settings())
                assert "CERTIFICATE_VERIFY_FAILED" in str(failure.value)
                assert hook.received == []
