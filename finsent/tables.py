"""SQLAlchemy table definitions: the database contract shared by every package.

Portable across PostgreSQL (system of record) and SQLite (zero-setup demo). Schema changes
go through Alembic migrations in ``migrations/``; nothing calls ``create_all`` outside tests.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Alert",
    "AlertEvent",
    "Base",
    "Document",
    "FEEDBACK_FIELDS",
    "Feedback",
    "HourlyRollup",
    "JSONType",
    "NotificationGroup",
    "OutboxMessage",
    "Rollup",
    "SCOPE_KINDS",
    "Score",
    "Silence",
    "StoryBand",
    "StoryScope",
    "UTCDateTime",
    "metadata",
]

# Scopes a rollup (and so an alert rule) can be about.
SCOPE_KINDS = ("all", "topic", "ticker", "source")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


JSONType = JSON().with_variant(JSONB(), "postgresql")

# Stable constraint names so Alembic migrations are the same on every backend.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class Base(DeclarativeBase):
    metadata = metadata


class Document(Base):
    """One news item or comment, as it arrived (first arrival wins)."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())
    tickers: Mapped[list[str]] = mapped_column(JSONType, default=list)
    lang: Mapped[str] = mapped_column(String(16), default="en")
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The story this document is a copy of: the id of the story's first stored document (its own id
    # when it is the first). NULL for documents stored before stories existed (migration desk_0005).
    story_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # MinHash signature of the text's shingles (finsent.stories), to confirm later copies against.
    story_signature: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class Score(Base):
    """One model version's verdict on one document."""

    __tablename__ = "scores"

    document_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    model_version: Mapped[str] = mapped_column(String(120), primary_key=True)
    sentiment: Mapped[str] = mapped_column(String(16))
    sentiment_score: Mapped[float] = mapped_column(Float)
    topic: Mapped[str | None] = mapped_column(String(80), nullable=True)
    topic_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    probabilities: Mapped[dict[str, dict[str, float]]] = mapped_column(JSONType, default=dict)
    # Per ticker of the document: {"TTM": {"sentiment": ..., "score": ..., "method": "entity" | "sentence"}}.
    # "entity" when the model's entity head judged that company within the text, "sentence" when the
    # text's own sentiment stands in (one ticker, or a model without the head). NULL before desk_0005.
    ticker_sentiments: Mapped[dict[str, dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
    # Denormalised from documents so time-range reads need no join.
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_scores_model_version_published_at", "model_version", "published_at"),)


class Rollup(Base):
    """Per-minute sentiment counts by scope, in event time, per model version.

    Kept in step with ``scores`` in the same transaction that inserts them, so a replayed
    batch (whose scores already exist) adds nothing.
    """

    __tablename__ = "rollups"

    model_version: Mapped[str] = mapped_column(String(120), primary_key=True)
    scope_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    negative: Mapped[int] = mapped_column(Integer, default=0)
    neutral: Mapped[int] = mapped_column(Integer, default=0)
    positive: Mapped[int] = mapped_column(Integer, default=0)
    # Counting stories (finsent.settings.StorySettings.count): documents that were copies of a story
    # already counted in this scope, so counted nowhere else. negative + neutral + positive +
    # duplicates is every document stored, which alerts/counts.py relies on to see an hour change.
    duplicates: Mapped[int] = mapped_column(Integer, server_default=text("0"))

    __table_args__ = (Index("ix_rollups_minute", "model_version", "minute"),)


class HourlyRollup(Base):
    """The per-minute rollups summed by UTC hour, so long windows read 60 times fewer rows.

    Ranking tickers over 7 days against the 28 before reads 35 days of rollups: about a million
    minute rows on 10 million documents, 60 times fewer hours. Always equal to the sum of
    ``rollups`` over each hour: ``finsent.store`` writes both in the same transaction, and
    ``rebuild_rollups`` recomputes the hours it touches from the minutes.
    """

    __tablename__ = "rollups_hourly"

    model_version: Mapped[str] = mapped_column(String(120), primary_key=True)
    scope_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    negative: Mapped[int] = mapped_column(Integer, default=0)
    neutral: Mapped[int] = mapped_column(Integer, default=0)
    positive: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, server_default=text("0"))

    __table_args__ = (Index("ix_rollups_hourly_hour", "model_version", "hour"),)



class StoryBand(Base):
    """One LSH band of one document's story signature: equal bands find the candidate copies of a text."""

    __tablename__ = "story_bands"

    band: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    document_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # Denormalised from documents: look-ups keep to the story window without a join.
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())

    # A band's newest members inside the story window, read without touching its older ones
    # (a templated headline can put tens of thousands of documents in one band), and with the
    # document id in the index, without touching the table (migration perf_0007).
    __table_args__ = (
        Index("ix_story_bands_band_published_at_document_id", "band", "published_at", "document_id"),
    )


class StoryScope(Base):
    """The document that counted a story in one scope, for one model version (counting stories)."""

    __tablename__ = "story_scopes"

    model_version: Mapped[str] = mapped_column(String(120), primary_key=True)
    story_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    document_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )


# What an analyst can correct (finsent.feedback): the text's sentiment, its topic, or one ticker's sentiment.
FEEDBACK_FIELDS = ("sentiment", "topic", "ticker")


class Feedback(Base):
    """An analyst's correction of one model version's label on one document."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    model_version: Mapped[str] = mapped_column(String(120), index=True)
    field: Mapped[str] = mapped_column(String(16))  # one of FEEDBACK_FIELDS
    ticker: Mapped[str | None] = mapped_column(String(16), nullable=True)  # field 'ticker' only
    model_label: Mapped[str | None] = mapped_column(String(80), nullable=True)
    label: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())



# ---------------------------------------------------------------------------------------------
# alerts: rule evaluation state, notification grouping, the outbox and silences (package alerts/)
# ---------------------------------------------------------------------------------------------

_FIRING_ONLY = text("state = 'firing'")
_ALL_SCOPE = text("scope_kind = 'all'")

# Every alert cycle reads the 'all' scope's hourly totals over the baselines to find hours that
# late data changed (alerts/counts.py); this small partial index makes that an index-only scan.
Index(
    "ix_rollups_all_scope_counts",
    Rollup.model_version,
    Rollup.minute,
    Rollup.negative,
    Rollup.neutral,
    Rollup.positive,
    Rollup.duplicates,
    postgresql_where=_ALL_SCOPE,
    sqlite_where=_ALL_SCOPE,
)


class Alert(Base):
    """One spike of one rule on one scope: fires once, stays firing while it persists, then resolves."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Identity of "the same alert" across cycles: the rule name and the scope, hashed.
    fingerprint: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(120))
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(String(16))  # firing | resolved
    model_version: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acked_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # latest statistics
    peak: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # statistics at the highest z

    __table_args__ = (
        # At most one firing alert per rule and scope, even with two evaluators racing.
        Index(
            "uq_alerts_firing_fingerprint",
            "fingerprint",
            unique=True,
            postgresql_where=_FIRING_ONLY,
            sqlite_where=_FIRING_ONLY,
        ),
        Index("ix_alerts_fingerprint_resolved_at", "fingerprint", "resolved_at"),
        Index("ix_alerts_state_started_at", "state", "started_at"),
    )


class AlertEvent(Base):
    """The history of an alert: fired, resolved, acknowledged, notified."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(Integer, ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(120), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Silence(Base):
    """Mutes notifications for alerts whose labels match every matcher, between starts_at and ends_at."""

    __tablename__ = "alert_silences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    matchers: Mapped[list[str]] = mapped_column(JSONType, default=list)  # e.g. ['ticker="ACME"']
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_by: Mapped[str] = mapped_column(String(120))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expired_by: Mapped[str | None] = mapped_column(String(120), nullable=True)


class NotificationGroup(Base):
    """One aggregation group of a route (route, receiver, group_by label values) and what it last notified."""

    __tablename__ = "alert_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    route: Mapped[str] = mapped_column(String(64))
    receiver: Mapped[str] = mapped_column(String(120))
    labels: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    notified_firing: Mapped[list[int]] = mapped_column(JSONType, default=list)  # alert ids
    sequence: Mapped[int] = mapped_column(Integer, default=0)


class OutboxMessage(Base):
    """A notification recorded before it is sent; the dispatcher sends it and marks it sent."""

    __tablename__ = "alert_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Idempotency key, also the email Message-ID: a resend after a crash carries the same one.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    receiver: Mapped[str] = mapped_column(String(120))
    integration: Mapped[str] = mapped_column(String(16))  # email | slack
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    alert_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_alert_outbox_status_next_attempt_at", "status", "next_attempt_at"),)
