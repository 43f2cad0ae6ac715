"""Email over SMTP: plain, STARTTLS or implicit TLS, with credentials from settings (the environment)."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from pydantic import SecretStr

from finsent.alerts.errors import PermanentDeliveryError, TransientDeliveryError
from finsent.settings import AlertSettings

__all__ = ["EmailNotifier", "SmtpConfig", "SmtpSender", "build_message", "message_id"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to reach the SMTP server."""

    host: str
    port: int
    starttls: bool = False
    tls: bool = False  # implicit TLS from the first byte (port 465); starttls upgrades a plain session
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: AlertSettings) -> SmtpConfig:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            starttls=settings.smtp_starttls,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout_s=settings.send_timeout_s,
        )


def _by_code(code: int, what: str) -> Exception:
    # 4xx is "try again later" in SMTP; 5xx will not get better by itself.
    cls = TransientDeliveryError if 400 <= code < 500 else PermanentDeliveryError
    return cls(f"SMTP {what}: {code}")


class SmtpSender:
    """Delivers one EmailMessage per connection (alerts are rare; a held connection would go stale)."""

    def __init__(self, config: SmtpConfig, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._config = config
        self._ssl = ssl_context or ssl.create_default_context()

    def __call__(self, message: EmailMessage) -> None:
        cfg = self._config
        try:
            if cfg.tls:
                client: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_s, context=self._ssl)
            else:
                client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
            with client:
                if cfg.starttls and not cfg.tls:
                    client.starttls(context=self._ssl)
                if cfg.username:
                    password = cfg.password.get_secret_value() if cfg.password else ""
                    client.login(cfg.username, password)
                refused = client.send_message(message)
            if refused:
                # Some recipients took it: resending would duplicate theirs, so report and move on.
                log.error("SMTP server refused some recipients", extra={"refused": sorted(refused)})
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise (_by_code(min(codes), "refused every recipient") if codes else PermanentDeliveryError(
                "SMTP refused every recipient"
            )) from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, type(exc).__name__) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentDeliveryError(f"SMTP server lacks a required extension: {exc}") from None
        except ssl.SSLCertVerificationError as exc:
            raise PermanentDeliveryError(f"SMTP server certificate rejected: {exc.verify_message}") from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timeout, DNS, TLS handshake
            raise TransientDeliveryError(f"SMTP server unreachable: {type(exc).__name__}: {exc}") from None


def message_id(key: str) -> str:
    """A Message-ID derived from the outbox key: a resend after a crash carries the same one."""
    return f"<{key}@finsent>"


def build_message(payload: Mapping[str, Any], *, key: str, email_from: str) -> EmailMessage:
    """The email for one rendered outbox payload."""
    message = EmailMessage()
    message["From"] = email_from
    message["To"] = ", ".join(payload["to"])
    message["Subject"] = payload["subject"]
    message["Date"] = format_datetime(datetime.fromisoformat(payload["date"]))
    message["Message-ID"] = message_id(key)
    message["X-Finsent-Alerts"] = ",".join(str(i) for i in payload.get("alert_ids", []))
    message.set_content(payload["text"])
    return message


class EmailNotifier:
    """Renders outbox payloads into emails and hands them to an injected sender (SmtpSender in production)."""

    def __init__(self, sender: Callable[[EmailMessage], None], *, email_from: str) -> None:
        self._sender = sender
        self._from = email_from

    def send(self, payload: Mapping[str, Any], *, key: str) -> None:
        if not payload.get("to"):
            raise PermanentDeliveryError("email has no recipients")
        self._sender(build_message(payload, key=key, email_from=self._from))
