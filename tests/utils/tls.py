"""Test certificates (a CA, a server and a client certificate it signs, and an unrelated CA) and a TLS proxy.

The embedded broker's own TLS options do not work in the Tansu build finsent ships (``--cert`` and
``--key`` refuse to be given together, and either alone leaves the listener plaintext; see
docs/broker.md), so the TLS tests put a real TLS listener (Python's ``ssl``, i.e. OpenSSL) in
front of it: clients do a full handshake, certificate and hostname checks included, and the
bytes inside are plain Kafka protocol to and from the real broker.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from finsent.stream.broker import free_port

__all__ = ["Pki", "TlsProxy", "make_pki"]


@dataclass(frozen=True)
class Pki:
    """PEM files for TLS tests."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # trusted by nobody: the "wrong CA"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _ca(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", str(key), "-out", str(cert),
             "-subj", f"/CN={name}")  # fmt: skip
    return cert, key


def _signed(folder: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    cert, key, csr, ext = (folder / f"{name}{suffix}" for suffix in (".pem", ".key", ".csr", ".ext"))
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")
    ext.write_text(extensions + "\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
             "-out", str(cert), "-days", "2", "-extfile", str(ext))  # fmt: skip
    return cert, key


def make_pki(folder: Path) -> Pki:
    """A CA signing a server certificate for 127.0.0.1/localhost and a client certificate; plus another CA."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca(folder, "finsent-test-ca")
    server = _signed(folder, "broker", ca, "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth")
    client = _signed(folder, "finsent-client", ca, "extendedKeyUsage=clientAuth")
    other, _ = _ca(folder, "some-other-ca")
    return Pki(ca[0], server[0], server[1], client[0], client[1], other)


class TlsProxy:
    """A TLS listener on loopback that forwards each connection's bytes to a plaintext upstream port.

    ``require_client_cert`` makes it demand a client certificate signed by ``pki.ca`` (mutual TLS).
    """

    def __init__(self, pki: Pki, upstream_port: int, *, require_client_cert: bool = False) -> None:
        self.port = free_port()
        self.upstream_port = upstream_port
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
        if require_client_cert:
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(str(pki.ca))
        self.handshakes = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handshakes += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self.context)

    def __enter__(self) -> TlsProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
