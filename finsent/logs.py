"""Logging set-up, done once per entry point: structured (JSON lines), quiet by default, secrets masked.

Every record of the process goes through one handler on the root logger, so finsent's own
loggers and the libraries' (faust, mode, aiokafka, kafka, httpx, httpcore, apscheduler, ...)
come out in the same shape: ``ts``, ``level``, ``logger``, ``msg`` and the ``extra`` fields.

Secrets are masked on the finished line, whatever logged them: the values registered with
``register_secrets`` (the entry point registers every secret in the settings; the alert
receivers their webhook URLs and keys), the password of any ``scheme://user:password@`` URL,
credential-like query parameters (``?token=``, ``key``, ``sig``, ...) and Slack webhook paths.
httpx logs every request URL at INFO, and a Slack webhook URL is the credential itself.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "JsonFormatter",
    "MASK",
    "RedactingFormatter",
    "configure_logging",
    "redact",
    "register_secrets",
    "route_transformers_logging",
    "settings_secrets",
]

MASK = "***"
_configured = False  # set by configure_logging: finsent owns this process's logging
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# Shorter values would mask ordinary words; no real secret is this short.
_MIN_SECRET_CHARS = 4

_secrets: set[str] = set()
_secrets_lock = threading.Lock()

_USERINFO = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@\"']*:)(?P<pw>[^@/\s\"']+)(?=@)")
_QUERY = re.compile(
    r"(?P<head>[?&;](?:[a-z0-9_.-]*(?:token|key|secret|password|passwd|pwd|sig|signature|auth|credential)"
    r"[a-z0-9_.-]*)=)(?P<value>[^&#\s\"']+)",
    re.IGNORECASE,
)
_SLACK = re.compile(r"(?P<head>hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/)(?P<path>[^\s\"'?#]+)")


def register_secrets(values: Iterable[str | None]) -> None:
    """Mask these values wherever they appear in a log line from now on (and their JSON-escaped forms)."""
    with _secrets_lock:
        for value in values:
            if value and len(value) >= _MIN_SECRET_CHARS:
                _secrets.add(value)
                _secrets.add(json.dumps(value)[1:-1])  # as it reads inside a JSON string


def settings_secrets(settings: Any) -> list[str]:
    """Every SecretStr value in a pydantic settings tree, and the password inside any URL among them."""
    from pydantic import BaseModel, SecretStr

    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, SecretStr):
            value = node.get_secret_value()
            found.append(value)
            match = _USERINFO.search(value)
            if match:
                found.append(match.group("pw"))
        elif isinstance(node, BaseModel):
            for name in type(node).model_fields:
                walk(getattr(node, name))

    walk(settings)
    return found


def redact(line: str) -> str:
    """``line`` with registered secrets, URL passwords, credential query values and Slack paths masked."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)  # a longer secret first: it may contain a shorter one
    for value in known:
        if value in line:
            line = line.replace(value, MASK)
    line = _USERINFO.sub(lambda m: m.group("head") + MASK, line)
    line = _QUERY.sub(lambda m: m.group("head") + MASK, line)
    return _SLACK.sub(lambda m: m.group("head") + MASK, line)


class JsonFormatter(logging.Formatter):
    """One JSON object a line; ``extra={...}`` fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _message(record),
        }
        out.update({k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, default=str)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - a library's bad %-format must not cost the line
        return f"{record.msg!s} {record.args!r}"


class RedactingFormatter(logging.Formatter):
    """Formats with ``inner``, then masks secrets in the finished line (message, extras, traceback)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


def configure_logging(level: str = "WARNING", fmt: str = "json", *, secrets: Iterable[str | None] = ()) -> None:
    """Route all logs to stderr through one redacting formatter; libraries stay at WARNING unless finsent is at DEBUG."""
    global _configured
    _configured = True
    register_secrets(secrets)
    inner = JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(inner))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    numeric = logging.getLevelName(level.upper())
    root.setLevel(numeric if isinstance(numeric, int) else logging.WARNING)
    for name in _LIBRARIES:
        library = logging.getLogger(name)
        library.setLevel(logging.NOTSET if root.level <= logging.DEBUG else max(logging.WARNING, root.level))
    _one_handler_only()


def route_transformers_logging() -> None:
    """transformers prints through a handler of its own, installed when it is first used: ours instead.

    Called by the model loader before transformers reads a config, so its warnings (a config
    key it does not know, ...) reach the log as JSON lines like everything else. Only where
    finsent configured the logging (its own processes): a library user keeps transformers' ways.
    """
    if not _configured:
        return
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_default_handler()
    hf_logging.enable_propagation()


def _one_handler_only() -> None:
    """Send loggers that print by themselves (streamlit's, colorlog's) through the root handler instead.

    Such a logger writes its own differently shaped line, unmasked; file handlers and test
    capture handlers are left alone.
    """
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger):
            continue  # a placeholder for a logger not created yet
        printing = [h for h in logger.handlers if type(h) is logging.StreamHandler or type(h).__module__ == "colorlog"]
        if printing:
            for handler in printing:
                logger.removeHandler(handler)
            logger.propagate = True


_LIBRARIES = (
    "kafka", "aiokafka", "faust", "mode", "transformers", "urllib3", "httpx", "httpcore", "alembic",
    "apscheduler", "aiohttp", "asyncio", "sqlalchemy", "streamlit", "aiosmtpd", "mail.log", "feedparser",
)  # fmt: skip
