"""Fixtures for the alert tests: the receivers' stand-ins on loopback (tests/utils/receivers.py) and databases."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from finsent.db import make_engine, make_sessionmaker
from tests.utils.receivers import SlackStandIn, SmtpServer


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
