"""Kafka security settings as client options, and the start-up check that names a wrong one.

One translation of ``KafkaSettings`` (protocol, SASL mechanism and credentials, CA, client
certificate) serves every client: kafka-python and aiokafka take the same keyword names, and
the Faust worker gets the same values as ``broker_credentials`` (``stream/app.py``).

Kafka clients react to a wrong CA, a wrong password or a protocol mismatch by reconnecting
for ever (kafka-python) or with a stack trace (aiokafka). :func:`check_broker` runs first, with a
bounded timeout, speaks just enough of the protocol (ApiVersions, SaslHandshake,
SaslAuthenticate) to tell those cases apart, and raises :class:`KafkaSetupError` whose message
is one line naming the setting to fix.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import ssl
import struct
from dataclasses import dataclass
from typing import Any

from finsent.settings import KafkaSettings

__all__ = ["KafkaSetupError", "check_broker", "client_security", "ssl_context"]

_CLIENT_ID = b"finsent-check"
_API_VERSIONS, _SASL_HANDSHAKE, _SASL_AUTHENTICATE = 18, 17, 36
_TLS_RECORD_TYPES = {0x14, 0x15, 0x16, 0x17}  # a TLS server answering plaintext bytes starts with one of these


class KafkaSetupError(RuntimeError):
    """The broker cannot be used with these settings; the message names the setting to fix."""


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    """The TLS context for SSL and SASL_SSL: the configured CA (else the system's), the client certificate if any."""
    try:
        context = ssl.create_default_context(cafile=kafka.ssl_cafile)
    except (OSError, ssl.SSLError) as exc:
        raise KafkaSetupError(f"FINSENT_KAFKA_SSL_CAFILE {kafka.ssl_cafile!r} is not a readable PEM file: {exc}") from None
    context.check_hostname = kafka.ssl_check_hostname
    if kafka.ssl_certfile:
        password = kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None
        try:
            context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile, password=password)
        except (OSError, ssl.SSLError) as exc:
            raise KafkaSetupError(
                f"FINSENT_KAFKA_SSL_CERTFILE/_KEYFILE ({kafka.ssl_certfile}, {kafka.ssl_keyfile}) cannot be loaded: {exc}"
            ) from None
    return context


def client_security(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for kafka-python and aiokafka clients (both spell them the same way)."""
    options: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    if kafka.uses_tls:
        options["ssl_context"] = ssl_context(kafka)
    if kafka.security_protocol.startswith("SASL_"):
        assert kafka.sasl_password is not None  # KafkaSettings refuses SASL without credentials
        options.update(
            sasl_mechanism=kafka.sasl_mechanism,
            sasl_plain_username=kafka.sasl_username,
            sasl_plain_password=kafka.sasl_password.get_secret_value(),
        )
    return options


@dataclass
class _Connection:
    """One socket to one broker, speaking request/response frames with a deadline."""

    sock: socket.socket
    where: str
    correlation: int = 0

    def request(self, api_key: int, version: int, body: bytes) -> bytes:
        self.correlation += 1
        header = struct.pack(">hhih", api_key, version, self.correlation, len(_CLIENT_ID)) + _CLIENT_ID
        frame = header + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        size_bytes = self._read(4)
        if size_bytes[0] in _TLS_RECORD_TYPES and size_bytes[1] == 0x03:
            raise KafkaSetupError(
                f"the broker at {self.where} answered with TLS: set FINSENT_KAFKA_SECURITY_PROTOCOL to SSL "
                "(or SASL_SSL)"
            )
        (size,) = struct.unpack(">i", size_bytes)
        if not 4 <= size <= 16 * 1024 * 1024:
            raise KafkaSetupError(f"the broker at {self.where} does not speak the Kafka protocol (check FINSENT_KAFKA_BOOTSTRAP)")
        payload = self._read(size)
        (correlation,) = struct.unpack(">i", payload[:4])
        if correlation != self.correlation:
            raise KafkaSetupError(f"the broker at {self.where} answered out of order (check FINSENT_KAFKA_BOOTSTRAP)")
        return payload[4:]

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionResetError("connection closed by the broker")
            data += chunk
        return data


def _string(value: bytes) -> bytes:
    return struct.pack(">h", len(value)) + value


def _bytes(value: bytes) -> bytes:
    return struct.pack(">i", len(value)) + value


def _sasl_authenticate(conn: _Connection, auth: bytes) -> tuple[int, str, bytes]:
    """One SaslAuthenticate v0 round: (error code, error message, server bytes)."""
    body = conn.request(_SASL_AUTHENTICATE, 0, _bytes(auth))
    (error,) = struct.unpack(">h", body[:2])
    (length,) = struct.unpack(">h", body[2:4])
    message = body[4 : 4 + length].decode(errors="replace") if length > 0 else ""
    rest = body[4 + max(length, 0) :]
    (size,) = struct.unpack(">i", rest[:4])
    return error, message, rest[4 : 4 + max(size, 0)]


def _scram(conn: _Connection, mechanism: str, user: str, password: str) -> str | None:
    """A SCRAM exchange (RFC 5802); returns why it failed, or None."""
    digest = hashlib.sha256 if mechanism == "SCRAM-SHA-256" else hashlib.sha512
    nonce = base64.b64encode(os.urandom(18)).decode()
    safe_user = user.replace("=", "=3D").replace(",", "=2C")
    first_bare = f"n={safe_user},r={nonce}"
    error, message, server_first = _sasl_authenticate(conn, f"n,,{first_bare}".encode())
    if error:
        return message or f"error code {error}"
    fields = dict(part.split("=", 1) for part in server_first.decode().split(",") if "=" in part)
    if not fields.get("r", "").startswith(nonce) or "s" not in fields or "i" not in fields:
        return f"unexpected server message {server_first[:80]!r}"
    salted = hashlib.pbkdf2_hmac(digest().name, password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", digest).digest()
    without_proof = f"c=biws,r={fields['r']}"
    auth_message = f"{first_bare},{server_first.decode()},{without_proof}".encode()
    signature = hmac.new(digest(client_key).digest(), auth_message, digest).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True))).decode()
    error, message, server_final = _sasl_authenticate(conn, f"{without_proof},p={proof}".encode())
    final = dict(part.split("=", 1) for part in server_final.decode(errors="replace").split(",") if "=" in part)
    if error or "e" in final:
        # Tansu answers an unknown user or a wrong password with error code 0 and "e=..." in the message.
        return message or final.get("e") or f"error code {error}"
    server_key = hmac.new(salted, b"Server Key", digest).digest()
    expected = hmac.new(server_key, auth_message, digest).digest()
    if base64.b64decode(final.get("v", "")) != expected:
        return "the server's SCRAM signature does not match (is this the right broker?)"
    return None


def _authenticate(conn: _Connection, kafka: KafkaSettings) -> None:
    try:
        body = conn.request(_SASL_HANDSHAKE, 1, _string(kafka.sasl_mechanism.encode()))
    except ConnectionError:  # Tansu hangs up on a mechanism it does not offer
        raise KafkaSetupError(
            f"the broker at {conn.where} closed the connection at the SASL handshake for {kafka.sasl_mechanism}: "
            "it may not offer that mechanism (FINSENT_KAFKA_SASL_MECHANISM) or SASL at all "
            "(FINSENT_KAFKA_SECURITY_PROTOCOL)"
        ) from None
    (error,) = struct.unpack(">h", body[:2])
    (count,) = struct.unpack(">i", body[2:6])
    offered, at = [], 6
    for _ in range(max(count, 0)):
        (length,) = struct.unpack(">h", body[at : at + 2])
        offered.append(body[at + 2 : at + 2 + length].decode())
        at += 2 + length
    if error:
        raise KafkaSetupError(
            f"the broker at {conn.where} does not accept SASL mechanism {kafka.sasl_mechanism} "
            f"(FINSENT_KAFKA_SASL_MECHANISM; it offers {', '.join(offered) or 'none'})"
        )
    user = kafka.sasl_username or ""
    password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
    if kafka.sasl_mechanism == "PLAIN":
        error, message, _ = _sasl_authenticate(conn, b"\0" + user.encode() + b"\0" + password.encode())
        failure = (message or f"error code {error}") if error else None
    else:
        failure = _scram(conn, kafka.sasl_mechanism, user, password)
    if failure is not None:
        raise KafkaSetupError(
            f"SASL {kafka.sasl_mechanism} authentication as {user!r} failed at {conn.where} ({failure}): "
            "check FINSENT_KAFKA_SASL_USERNAME and FINSENT_KAFKA_SASL_PASSWORD"
        )


def _tls_problem(exc: ssl.SSLError, where: str, kafka: KafkaSettings) -> KafkaSetupError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
            return KafkaSetupError(
                f"the broker's certificate at {where} does not name that host ({exc.verify_message}): "
                "connect by a name it lists, or set FINSENT_KAFKA_SSL_CHECK_HOSTNAME=false"
            )
        ca = f"FINSENT_KAFKA_SSL_CAFILE ({kafka.ssl_cafile})" if kafka.ssl_cafile else "FINSENT_KAFKA_SSL_CAFILE"
        return KafkaSetupError(
            f"the broker's certificate at {where} is not trusted ({exc.verify_message}): set {ca} to the CA that signed it"
        )
    reason = exc.reason or str(exc)
    wants_certificate = "CERTIFICATE_REQUIRED" in reason.upper() or (
        "HANDSHAKE_FAILURE" in reason.upper() and not kafka.ssl_certfile
    )
    if wants_certificate:
        return KafkaSetupError(
            f"the broker at {where} wants a client certificate ({reason}): set FINSENT_KAFKA_SSL_CERTFILE and _KEYFILE"
        )
    if "UNKNOWN_CA" in reason.upper() or "BAD_CERTIFICATE" in reason.upper():
        return KafkaSetupError(
            f"the broker at {where} refused the client certificate ({reason}): check FINSENT_KAFKA_SSL_CERTFILE"
        )
    return KafkaSetupError(
        f"TLS with the broker at {where} failed ({reason}): is it a TLS port? (FINSENT_KAFKA_SECURITY_PROTOCOL)"
    )


def _check_one(host: str, port: int, kafka: KafkaSettings, context: ssl.SSLContext | None, timeout_s: float) -> None:
    where = f"{host}:{port}"
    sock = socket.create_connection((host, port), timeout=timeout_s)
    try:
        if context is not None:
            try:
                sock = context.wrap_socket(sock, server_hostname=host)
            except ssl.SSLError as exc:
                raise _tls_problem(exc, where, kafka) from None
            except (TimeoutError, ConnectionError) as exc:
                raise KafkaSetupError(
                    f"the broker at {where} did not complete a TLS handshake ({type(exc).__name__}): it may not be a "
                    "TLS port (FINSENT_KAFKA_SECURITY_PROTOCOL)"
                ) from None
        conn = _Connection(sock, where)
        try:
            conn.request(_API_VERSIONS, 0, b"")
            if kafka.security_protocol.startswith("SASL_"):
                _authenticate(conn, kafka)
        except ssl.SSLError as exc:  # TLS 1.3 sends a refused client certificate after the handshake
            raise _tls_problem(exc, where, kafka) from None
        except (TimeoutError, ConnectionError) as exc:
            if context is None:
                hint = "it may expect TLS: FINSENT_KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL"
            elif not kafka.ssl_certfile:  # TLS 1.3 refuses a missing client certificate after the handshake
                hint = "it may require a client certificate: FINSENT_KAFKA_SSL_CERTFILE and _KEYFILE"
            else:
                hint = "check FINSENT_KAFKA_SECURITY_PROTOCOL"
            raise KafkaSetupError(
                f"the broker at {where} did not answer a Kafka request ({type(exc).__name__}); {hint}"
            ) from None
    finally:
        sock.close()


def check_broker(kafka: KafkaSettings, bootstrap: str, *, timeout_s: float | None = None) -> None:
    """Connect to a bootstrap server as the clients will; raise KafkaSetupError naming what is wrong.

    The first server that answers settles it; a wrong certificate, password or protocol is the
    same on every server, so it fails at once. Only when none answers at all is that the error.
    """
    timeout = timeout_s if timeout_s is not None else kafka.connect_timeout_s
    context = ssl_context(kafka) if kafka.uses_tls else None
    unreachable: list[str] = []
    for server in (s.strip() for s in bootstrap.split(",") if s.strip()):
        host, _, port = server.rpartition(":")
        host = host.strip("[]") or server
        try:
            _check_one(host, int(port or 9092), kafka, context, timeout)
            return
        except (OSError, ValueError) as exc:  # refused, unreachable, DNS: try the next server
            unreachable.append(f"{server} ({type(exc).__name__}: {exc})")
    raise KafkaSetupError(
        f"no Kafka broker answers at {', '.join(unreachable) or repr(bootstrap)}: check FINSENT_KAFKA_BOOTSTRAP "
        "(unset = the embedded broker of `finsent broker`)"
    )
