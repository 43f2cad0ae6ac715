"""Stand-ins for the notification receivers on loopback: an aiosmtpd SMTP server, a Slack webhook record, TLS."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SmtpSession

from finsent.stream.broker import free_port

__all__ = ["Inbox", "SlackStandIn", "SmtpServer", "authenticator", "server_tls"]


@dataclass
class Inbox:
    """What the SMTP server received."""

    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SmtpServer:
    """An aiosmtpd server on a fixed loopback port that can be stopped and started again."""

    def __init__(self, **controller_kwargs: Any) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self._kwargs = controller_kwargs
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **self._kwargs)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def server_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls_files[0]), str(tls_files[1]))
    return context


def authenticator(username: str, password: str):  # type: ignore[no-untyped-def]
    """An aiosmtpd authenticator accepting exactly one user."""

    def check(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == username and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False)

    return check


@dataclass
class SlackStandIn:
    """An HTTP server recording webhook posts; ``statuses`` are answered first, then 200."""

    url: str
    posts: list[dict[str, Any]]
    paths: list[str]
    statuses: list[tuple[int, dict[str, str], str]]
