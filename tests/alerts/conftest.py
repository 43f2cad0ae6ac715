"""Real servers on loopback for the notifier tests: an aiosmtpd SMTP server and an HTTP server standing in for Slack."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy.orm import Session, sessionmaker

from finsent.db import make_engine, make_sessionmaker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


@pytest.fixture()
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server on loopback."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture()
def client_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    """A client context that trusts the test certificate (and verifies it)."""
    return ssl.create_default_context(cafile=str(tls_files[0]))


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


@pytest.fixture()
def slack_server() -> Iterator[SlackStandIn]:
    """A stand-in for Slack's incoming webhooks on loopback."""
    posts: list[dict[str, Any]] = []
    paths: list[str] = []
    statuses: list[tuple[int, dict[str, str], str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, headers, text = statuses.pop(0) if statuses else (200, {}, "ok")
            if status == 200:
                posts.append(json.loads(body))
                paths.append(self.path)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield SlackStandIn(f"http://127.0.0.1:{httpd.server_address[1]}/services/T0/B0/secret-token", posts, paths, statuses)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def pg_factory(pg_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on a fresh, migrated PostgreSQL database."""
    engine = make_engine(pg_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture()
def db_factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on a fresh database of each backend."""
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture()
def sqlite_factory(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on a fresh, migrated SQLite file (for logic that needs no second backend)."""
    engine = make_engine(sqlite_url)
    yield make_sessionmaker(engine)
    engine.dispose()
