"""The wire contract: JSON records on the raw, scored and dead-letter topics.

Add fields with defaults; never rename or retype one, since old messages stay in topics
and backfill files for years.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "DeadLetter",
    "InvalidMessage",
    "NewsMessage",
    "SENTIMENT_LABELS",
    "ScoredMessage",
    "clean_text",
    "derive_id",
    "identity_text",
    "parse_raw",
    "utcnow",
]

# The sentiment a score carries, in the order rollups, reports and the model's head list them.
SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")

_WS = re.compile(r"\s+")
_TICKER = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
# C0 controls but tab, newline and carriage return; DEL; lone surrogates. PostgreSQL refuses NUL in
# text and psycopg2 cannot encode a lone surrogate, so either would fail the whole batch's write.
_UNSAFE_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# Timestamps outside this range are feed bugs, not news, and a date near year 9999 overflows as soon
# as it is bucketed or shifted to UTC.
EARLIEST_PUBLISHED = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_FUTURE_SKEW = timedelta(days=1)
# The largest dead letter, serialised: under the producers' 1 MB request limit (aiokafka's and
# kafka-python's default) with room for the record's key and headers.
DEAD_LETTER_MAX_BYTES = 900_000
_ERROR_MAX_CHARS = 2_000


def utcnow() -> datetime:
    """Timezone-aware now, in UTC."""
    return datetime.now(timezone.utc)


def identity_text(text: str) -> str:
    """Lower-cased, whitespace-collapsed text: what counts as 'the same text' for ids and dedup."""
    return _WS.sub(" ", text).strip().lower()


def derive_id(source: str, url: str | None, title: str, body: str) -> str:
    """A stable document id: the same item from the same source always gets the same id."""
    anchor = url.strip() if url else identity_text(f"{title}\n{body}")
    return hashlib.sha256(f"{source}\n{anchor}".encode()).hexdigest()[:32]


def clean_text(value: str) -> str:
    """The text with characters no database column can hold replaced by a space (NUL, controls, lone surrogates)."""
    return _UNSAFE_CHARS.sub(" ", value)


def _as_utc(value: datetime) -> datetime:
    # Naive timestamps from feeds are taken as UTC rather than rejected: feeds omit zones often.
    try:
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("timestamp out of range") from None
    return value


def _plausible(value: datetime, *, field: str) -> datetime:
    latest = utcnow() + MAX_FUTURE_SKEW
    if not EARLIEST_PUBLISHED <= value <= latest:
        raise ValueError(f"{field} {value.isoformat()} is outside [{EARLIEST_PUBLISHED.date()}, now + {MAX_FUTURE_SKEW}]")
    return value


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

    @field_validator("id", "source", "title", "body", "url", "lang", mode="before")
    @classmethod
    def _clean(cls, value: Any) -> Any:
        return clean_text(value) if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _fill_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("id"):
            source, title, body = data.get("source"), data.get("title") or "", data.get("body") or ""
            url = data.get("url")
            fields_ok = all(isinstance(v, str) for v in (source, title, body)) and isinstance(url, (str, type(None)))
            if fields_ok:
                data = {**data, "id": derive_id(clean_text(source), url and clean_text(url), clean_text(title), clean_text(body))}
        return data

    @field_validator("published_at", "fetched_at")
    @classmethod
    def _utc(cls, value: datetime, info: Any) -> datetime:
        return _plausible(_as_utc(value), field=info.field_name)

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
    # Each ticker's own sentiment when the text names several: {ticker: {sentiment, score, method}},
    # method "entity" (the model's entity head) or "sentence" (the text's sentiment stands in).
    ticker_sentiments: dict[str, dict[str, Any]] = Field(default_factory=dict)


class DeadLetter(BaseModel):
    """A message that could not be processed, with why, and the original bytes."""

    reason: str
    error: str
    payload: str
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    truncated: bool = Field(default=False, description="payload holds only the first bytes of the original")
    original_size: int | None = None
    original_sha256: str | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    failed_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def of(
        cls,
        raw: bytes,
        *,
        reason: str,
        error: str,
        max_letter_bytes: int = DEAD_LETTER_MAX_BYTES,
        **where: Any,
    ) -> DeadLetter:
        """Wrap raw bytes, readable when they are text; whole, unless the letter would exceed ``max_letter_bytes``.

        Then it keeps the longest prefix that fits, marked ``truncated``; ``original_size`` and
        ``original_sha256`` always describe the whole original.
        """
        summary = {
            "reason": reason,
            "error": error[:_ERROR_MAX_CHARS],
            "original_size": len(raw),
            "original_sha256": hashlib.sha256(raw).hexdigest(),
            **where,
        }
        kept = raw
        while True:
            letter = cls._wrap(kept, truncated=len(kept) < len(raw), **summary)
            size = len(letter.model_dump_json().encode())
            if size <= max_letter_bytes or not kept:
                return letter
            # Escaping makes the letter larger than the bytes it holds; shrink in proportion, with a margin.
            kept = kept[: int(len(kept) * max_letter_bytes / size * 0.9)]

    @classmethod
    def _wrap(cls, kept: bytes, *, truncated: bool, **summary: Any) -> DeadLetter:
        try:
            # A cut inside a multi-byte character would make valid text look binary: decode leniently at the end.
            text = _decode_prefix(kept) if truncated else kept.decode("utf-8")
            return cls(payload=text, truncated=truncated, **summary)
        except UnicodeDecodeError:
            return cls(payload=base64.b64encode(kept).decode("ascii"), payload_encoding="base64", truncated=truncated, **summary)

    def original(self) -> bytes:
        """The bytes as they arrived (the first ``max_payload_bytes`` of them when ``truncated``)."""
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode("utf-8")


def _decode_prefix(kept: bytes) -> str:
    """Decode a prefix cut at an arbitrary byte: up to three trailing bytes may be half a character."""
    for cut in range(4):
        try:
            return kept[: len(kept) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError("utf-8", kept, 0, len(kept), "not UTF-8 text")


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
    except RecursionError:
        raise InvalidMessage("bad_json", "JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal over Python's 4,300-digit conversion limit
        raise InvalidMessage("bad_json", str(exc)[:200]) from None
    if not isinstance(data, dict):
        raise InvalidMessage("not_an_object", f"expected a JSON object, got {type(data).__name__}")
    try:
        message = NewsMessage.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidMessage("invalid_fields", problems) from None
    except (TypeError, ValueError, AttributeError, ArithmeticError, RecursionError) as exc:
        # A validator met a shape it did not expect.
        raise InvalidMessage("invalid_fields", f"{type(exc).__name__}: {str(exc)[:500]}") from None
    if len(message.text) > max_text_chars:
        raise InvalidMessage("oversize_text", f"{len(message.text)} characters > limit {max_text_chars}")
    return message
