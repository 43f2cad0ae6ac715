"""The wire contract: JSON records on the raw, scored and dead-letter topics.

Add fields with defaults; never rename or retype one, since old messages stay in topics
and backfill files for years.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "DeadLetter",
    "InvalidMessage",
    "NewsMessage",
    "ScoredMessage",
    "derive_id",
    "normalise_text",
    "parse_raw",
    "utcnow",
]

_WS = re.compile(r"\s+")
_TICKER = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")


def utcnow() -> datetime:
    """Timezone-aware now, in UTC."""
    return datetime.now(timezone.utc)


def normalise_text(text: str) -> str:
    """Lower-cased, whitespace-collapsed text: what counts as 'the same text' for ids and dedup."""
    return _WS.sub(" ", text).strip().lower()


def derive_id(source: str, url: str | None, title: str, body: str) -> str:
    """A stable document id: the same item from the same source always gets the same id."""
    anchor = url.strip() if url else normalise_text(f"{title}\n{body}")
    return hashlib.sha256(f"{source}\n{anchor}".encode()).hexdigest()[:32]


def _as_utc(value: datetime) -> datetime:
    # Naive timestamps from feeds are taken as UTC rather than rejected: feeds omit zones often.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class NewsMessage(BaseModel):
    """A news item or comment to score (the raw topic)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=1, max_length=200)
    kind: Literal["news", "comment"] = "news"
    title: str = Field(default="", max_length=2_000)
    body: str = ""
    url: str | None = Field(default=None, max_length=2_000)
    published_at: datetime
    fetched_at: datetime = Field(default_factory=utcnow)
    tickers: list[str] = Field(default_factory=list, max_length=50)
    lang: str = Field(default="en", max_length=16)

    @model_validator(mode="before")
    @classmethod
    def _fill_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("id"):
            source, title, body = data.get("source"), data.get("title") or "", data.get("body") or ""
            url = data.get("url")
            fields_ok = all(isinstance(v, str) for v in (source, title, body)) and isinstance(url, (str, type(None)))
            if fields_ok:
                data = {**data, "id": derive_id(source, data.get("url"), title, body)}
        return data

    @field_validator("published_at", "fetched_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)

    @field_validator("tickers")
    @classmethod
    def _tickers(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for raw in value:
            ticker = raw.strip().lstrip("$").upper()
            if not _TICKER.match(ticker):
                raise ValueError(f"not a ticker symbol: {raw!r}")
            if ticker not in out:
                out.append(ticker)
        return out

    @model_validator(mode="after")
    def _has_text(self) -> NewsMessage:
        if not self.text.strip():
            raise ValueError("title and body are both empty")
        return self

    @property
    def text(self) -> str:
        """What the classifier reads."""
        if self.title and self.body:
            return f"{self.title}\n{self.body}"
        return self.title or self.body


class ScoredMessage(NewsMessage):
    """A document with one model version's scores (the scored topic)."""

    model_version: str
    sentiment: str
    sentiment_score: float
    topic: str | None = None
    topic_score: float | None = None
    probabilities: dict[str, dict[str, float]] = Field(default_factory=dict)
    scored_at: datetime = Field(default_factory=utcnow)


class DeadLetter(BaseModel):
    """A message that could not be processed, with why, and the original bytes."""

    reason: str
    error: str
    payload: str
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    failed_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def of(cls, raw: bytes, *, reason: str, error: str, **where: Any) -> DeadLetter:
        """Wrap raw bytes, keeping them readable when they are text."""
        try:
            return cls(reason=reason, error=error, payload=raw.decode("utf-8"), **where)
        except UnicodeDecodeError:
            return cls(
                reason=reason,
                error=error,
                payload=base64.b64encode(raw).decode("ascii"),
                payload_encoding="base64",
                **where,
            )

    def original(self) -> bytes:
        """The bytes as they arrived."""
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode("utf-8")


class InvalidMessage(ValueError):
    """A raw message that can never be processed; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse_raw(raw: bytes | None, *, max_bytes: int, max_text_chars: int) -> NewsMessage:
    """Decode and validate one raw-topic payload, or raise InvalidMessage saying why."""
    if raw is None:
        raise InvalidMessage("empty", "message has no value")
    if len(raw) > max_bytes:
        raise InvalidMessage("oversize", f"{len(raw)} bytes > limit {max_bytes}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage("bad_json", str(exc)) from None
    if not isinstance(data, dict):
        raise InvalidMessage("not_an_object", f"expected a JSON object, got {type(data).__name__}")
    try:
        message = NewsMessage.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidMessage("invalid_fields", problems) from None
    except (TypeError, ValueError, AttributeError) as exc:  # a validator met a shape it did not expect
        raise InvalidMessage("invalid_fields", f"{type(exc).__name__}: {exc}") from None
    if len(message.text) > max_text_chars:
        raise InvalidMessage("oversize_text", f"{len(message.text)} characters > limit {max_text_chars}")
    return message
