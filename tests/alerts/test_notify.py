"""Notifiers against real servers on loopback: SMTP (plain, STARTTLS with login, implicit TLS) and a Slack stand-in."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from pydantic import SecretStr

from finsent.alerts.errors import PermanentDeliveryError, TransientDeliveryError
from finsent.alerts.notify.email import EmailNotifier, SmtpConfig, SmtpSender, message_id
from finsent.alerts.notify.slack import SlackNotifier
from finsent.settings import Settings
from finsent.stream.broker import free_port
from tests.utils.receivers import Inbox, SlackStandIn, SmtpServer, authenticator, server_tls

PAYLOAD = {
    "to": ["desk@example.test", "risk@example.test"],
    "subject": "[FIRING:1] negative sentiment spike on ticker ACME (warning)",
    "text": "FIRING  ticker ACME\n  Negative rate now: 88%\n",
    "date": "2026-03-02T09:10:30+00:00",
    "alert_ids": [7],
}


def _email(config: SmtpConfig, context: ssl.SSLContext | None = None) -> EmailNotifier:
    return EmailNotifier(SmtpSender(config, ssl_context=context), email_from="finsent@example.test")


def test_plain_smtp_delivers_a_readable_email_with_a_stable_message_id(smtp_server: SmtpServer) -> None:
    _email(SmtpConfig("127.0.0.1", smtp_server.port)).send(PAYLOAD, key="g1-1-email0")
    [message] = smtp_server.inbox.messages
    assert message["Subject"] == PAYLOAD["subject"] and message["From"] == "finsent@example.test"
    assert message["Message-ID"] == message_id("g1-1-email0") == "<g1-1-email0@finsent>"
    assert message["X-Finsent-Alerts"] == "7"
    assert "Negative rate now: 88%" in message.get_payload(decode=True).decode()
    assert smtp_server.inbox.envelopes == [("finsent@example.test", ["desk@example.test", "risk@example.test"])]


def test_starttls_and_login_with_credentials_from_the_environment(
    tls_files: tuple[Path, Path], client_tls: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = SmtpServer(
        tls_context=server_tls(tls_files),
        require_starttls=True,
        authenticator=authenticator("finsent", "s3cret"),
        auth_require_tls=True,
    )
    server.start()
    try:
        monkeypatch.setenv("FINSENT_ALERTS_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("FINSENT_ALERTS_SMTP_PORT", str(server.port))
        monkeypatch.setenv("FINSENT_ALERTS_SMTP_STARTTLS", "true")
        monkeypatch.setenv("FINSENT_ALERTS_SMTP_USERNAME", "finsent")
        monkeypatch.setenv("FINSENT_ALERTS_SMTP_PASSWORD", "s3cret")
        settings = Settings().alerts
        assert "s3cret" not in repr(settings) and "s3cret" not in str(Settings().redacted())
        _email(SmtpConfig.from_settings(settings), client_tls).send(PAYLOAD, key="k1")
        assert len(server.inbox.messages) == 1

        wrong = SmtpConfig.from_settings(settings.model_copy(update={"smtp_password": SecretStr("nope")}))
        with pytest.raises(PermanentDeliveryError, match="535"):
            _email(wrong, client_tls).send(PAYLOAD, key="k2")
        plain = SmtpConfig("127.0.0.1", server.port)  # no STARTTLS: the server insists on it
        with pytest.raises(PermanentDeliveryError):
            _email(plain).send(PAYLOAD, key="k3")
    finally:
        server.stop()


def test_implicit_tls_and_an_untrusted_certificate(tls_files: tuple[Path, Path], client_tls: ssl.SSLContext) -> None:
    server = SmtpServer(ssl_context=server_tls(tls_files))
    server.start()
    try:
        _email(SmtpConfig("127.0.0.1", server.port, tls=True), client_tls).send(PAYLOAD, key="k1")
        assert len(server.inbox.messages) == 1
        with pytest.raises(PermanentDeliveryError, match="certificate"):
            _email(SmtpConfig("127.0.0.1", server.port, tls=True)).send(PAYLOAD, key="k2")  # system CAs only
    finally:
        server.stop()


def test_a_server_that_is_down_is_a_transient_failure() -> None:
    with pytest.raises(TransientDeliveryError, match="unreachable"):
        _email(SmtpConfig("127.0.0.1", free_port(), timeout_s=2)).send(PAYLOAD, key="k")


class _Picky(Inbox):
    """Refuses one recipient for good and greylists another."""

    async def handle_RCPT(self, server: SMTP, session: SmtpSession, envelope: Envelope, address: str, options: list) -> str:  # noqa: N802
        if address.startswith("gone@"):
            return "550 5.1.1 no such user"
        if address.startswith("later@"):
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.mark.parametrize(("to", "error"), [(["gone@example.test"], PermanentDeliveryError), (["later@example.test"], TransientDeliveryError)])
def test_smtp_reply_codes_decide_retry_or_not(to: list[str], error: type[Exception]) -> None:
    server = SmtpServer()
    server.inbox = _Picky()
    server.start()
    try:
        with pytest.raises(error):
            _email(SmtpConfig("127.0.0.1", server.port)).send({**PAYLOAD, "to": to}, key="k")
        # One good recipient among them: delivered to that one, never resent to it.
        _email(SmtpConfig("127.0.0.1", server.port)).send({**PAYLOAD, "to": [*to, "desk@example.test"]}, key="k2")
        assert server.inbox.envelopes == [("finsent@example.test", ["desk@example.test"])]
    finally:
        server.stop()


def test_an_email_without_recipients_is_refused(smtp_server: SmtpServer) -> None:
    with pytest.raises(PermanentDeliveryError, match="no recipients"):
        _email(SmtpConfig("127.0.0.1", smtp_server.port)).send({**PAYLOAD, "to": []}, key="k")


def test_slack_posts_the_body_to_the_webhook(slack_server: SlackStandIn) -> None:
    body = {"text": "hello", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]}
    with httpx.Client() as client:
        SlackNotifier(client, SecretStr(slack_server.url)).send({"body": body}, key="k")
    assert slack_server.posts == [body]


@pytest.mark.parametrize(
    ("status", "headers", "error", "retry_after"),
    [
        (500, {}, TransientDeliveryError, None),
        (429, {"Retry-After": "7"}, TransientDeliveryError, 7.0),
        (404, {}, PermanentDeliveryError, None),
        (400, {}, PermanentDeliveryError, None),
    ],
)
def test_slack_errors_are_classified_and_never_show_the_webhook(
    slack_server: SlackStandIn, status: int, headers: dict[str, str], error: type[Exception], retry_after: float | None
) -> None:
    slack_server.statuses.append((status, headers, f"no_service {slack_server.url}"))
    with httpx.Client() as client, pytest.raises(error) as caught:
        SlackNotifier(client, SecretStr(slack_server.url)).send({"body": {"text": "x"}}, key="k")
    assert caught.value.retry_after_s == retry_after  # type: ignore[attr-defined]
    assert "secret-token" not in str(caught.value) and str(status) in str(caught.value)


def test_slack_unreachable_is_transient_and_hides_the_url() -> None:
    url = SecretStr(f"http://127.0.0.1:{free_port()}/services/T0/B0/secret-token")
    with httpx.Client() as client, pytest.raises(TransientDeliveryError) as caught:
        SlackNotifier(client, url, timeout_s=2).send({"body": {"text": "x"}}, key="k")
    assert "secret-token" not in str(caught.value)
