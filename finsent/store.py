"""Idempotent writes of scored documents, and the per-minute and hourly rollups kept beside them.

One call writes one micro-batch in one transaction: documents (first arrival wins), scores
(one row per document and model version) and rollup increments for exactly the scores that
were new, into ``rollups`` (per minute) and ``rollups_hourly`` (the same counts per hour).
Replaying a batch therefore changes nothing, which is what makes at-least-once delivery from
Kafka safe.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Insert, Table, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from finsent.messages import SENTIMENT_LABELS, ScoredMessage, utcnow
from finsent.tables import Document, HourlyRollup, Rollup, Score, UTCDateTime
from finsent.timegrid import HOUR, MINUTE, ceil_time, floor_time

__all__ = [
    "RollupKey",
    "WriteResult",
    "hourly_deltas",
    "rebuild_rollups",
    "rollup_deltas",
    "scope_keys",
    "upsert_rollups",
    "write_scored",
]

RollupKey = tuple[str, str, str, datetime]  # model_version, scope_kind, scope, minute (or hour)


@dataclass(frozen=True)
class WriteResult:
    documents: int
    scores: int
    # Items whose id is already stored (or earlier in the batch) with other content: not written.
    conflicts: tuple[ScoredMessage, ...] = ()


def _content(item: ScoredMessage) -> tuple[str, str, str]:
    """What must match for a repeated id to be a replay rather than a different document."""
    return (item.source, item.title, item.body)


def scope_keys(*, source: str, topic: str | None, tickers: Iterable[str]) -> list[tuple[str, str]]:
    """Every (scope_kind, scope) a scored document counts towards."""
    keys = [("all", "*"), ("source", source)]
    if topic:
        keys.append(("topic", topic))
    keys.extend(("ticker", t) for t in dict.fromkeys(tickers))
    return keys


def rollup_deltas(rows: Iterable[ScoredMessage]) -> dict[RollupKey, Counter[str]]:
    """Per-minute sentiment count increments for a set of newly stored scores."""
    deltas: dict[RollupKey, Counter[str]] = {}
    for row in rows:
        minute = row.published_at.replace(second=0, microsecond=0)
        for kind, scope in scope_keys(source=row.source, topic=row.topic, tickers=row.tickers):
            deltas.setdefault((row.model_version, kind, scope, minute), Counter())[row.sentiment] += 1
    return deltas


def hourly_deltas(deltas: dict[RollupKey, Counter[str]]) -> dict[RollupKey, Counter[str]]:
    """Per-minute increments summed into the UTC hours they fall in."""
    hours: dict[RollupKey, Counter[str]] = {}
    for (version, kind, scope, minute), counts in deltas.items():
        hours.setdefault((version, kind, scope, minute.replace(minute=0)), Counter()).update(counts)
    return hours


def _insert(conn: Connection, table: Table) -> Insert:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"finsent supports PostgreSQL and SQLite, not {dialect}")


def upsert_rollups(conn: Connection, deltas: dict[RollupKey, Counter[str]], *, sign: int = 1) -> None:
    """Add (or with sign=-1, subtract) minute counts into ``rollups`` and their hours into ``rollups_hourly``.

    Both tables change in the caller's transaction, so the hourly rows always equal the sum of
    their minutes. Minutes go first, then hours, in every caller: the same lock order.
    """
    _upsert(conn, Rollup.__table__, "minute", deltas, sign=sign)
    _upsert(conn, HourlyRollup.__table__, "hour", hourly_deltas(deltas), sign=sign)


def _upsert(
    conn: Connection, table: Table, time_column: str, deltas: dict[RollupKey, Counter[str]], *, sign: int
) -> None:
    """Add signed counts into one rollup table, keyed on (version, scope_kind, scope, ``time_column``)."""
    if not deltas:
        return
    # Sorted keys: concurrent workers lock rollup rows in the same order, so they cannot deadlock.
    rows = [
        {
            "model_version": key[0],
            "scope_kind": key[1],
            "scope": key[2],
            time_column: key[3],
            **{s: sign * counts.get(s, 0) for s in SENTIMENT_LABELS},
        }
        for key, counts in sorted(deltas.items())
    ]
    # One statement, many parameter sets: compiled once and cached, sent in pages by
    # SQLAlchemy's insertmanyvalues; a multi-VALUES literal per batch would be compiled every time.
    stmt = _insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["model_version", "scope_kind", "scope", time_column],
        set_={s: table.c[s] + stmt.excluded[s] for s in SENTIMENT_LABELS},
    )
    conn.execute(stmt, rows)


def write_scored(session: Session, items: Sequence[ScoredMessage]) -> WriteResult:
    """Store a batch idempotently; the caller's transaction commits it."""
    if not items:
        return WriteResult(0, 0)
    conn = session.connection()
    now = utcnow()
    unique: dict[tuple[str, str], ScoredMessage] = {}
    documents: dict[str, ScoredMessage] = {}
    conflicts: list[ScoredMessage] = []
    for item in items:  # a batch may carry the same message twice (producer retry)
        first = documents.setdefault(item.id, item)
        if _content(first) != _content(item):
            conflicts.append(item)
            continue
        unique.setdefault((item.id, item.model_version), item)
    doc_rows = [
        {
            "id": d.id,
            "source": d.source,
            "kind": d.kind,
            "title": d.title,
            "body": d.body,
            "url": d.url,
            "published_at": d.published_at,
            "fetched_at": d.fetched_at,
            "tickers": list(d.tickers),
            "lang": d.lang,
            "ingested_at": now,
        }
        for d in sorted(documents.values(), key=lambda d: d.id)
    ]
    doc_stmt = _insert(conn, Document.__table__).on_conflict_do_nothing(index_elements=["id"])
    new_ids = {row.id for row in conn.execute(doc_stmt.returning(Document.__table__.c.id), doc_rows)}
    known = [doc_id for doc_id in documents if doc_id not in new_ids]
    if known:  # replays are the common case here; an id reused for other content is a conflict
        stored = _stored_content(conn, known)
        clashing = {doc_id for doc_id in known if doc_id in stored and stored[doc_id][0] != _content(documents[doc_id])}
        conflicts.extend(item for key, item in unique.items() if key[0] in clashing)
        unique = {key: _published_as_stored(item, stored.get(key[0])) for key, item in unique.items() if key[0] not in clashing}
    batch = list(unique.values())

    inserted: set[tuple[str, str]] = set()
    score_rows = [
        {
            "document_id": s.id,
            "model_version": s.model_version,
            "sentiment": s.sentiment,
            "sentiment_score": s.sentiment_score,
            "topic": s.topic,
            "topic_score": s.topic_score,
            "probabilities": s.probabilities,
            "published_at": s.published_at,
            "scored_at": s.scored_at,
        }
        for s in sorted(batch, key=lambda s: (s.id, s.model_version))
    ]
    score_table = Score.__table__
    score_stmt = (
        _insert(conn, score_table)
        .on_conflict_do_nothing(**_score_key(conn))
        .returning(score_table.c.document_id, score_table.c.model_version)
    )
    if score_rows:
        inserted.update((r.document_id, r.model_version) for r in conn.execute(score_stmt, score_rows))

    upsert_rollups(conn, rollup_deltas(unique[k] for k in inserted))
    return WriteResult(documents=len(new_ids), scores=len(inserted), conflicts=tuple(conflicts))


def _stored_content(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[tuple[str, str, str], datetime]]:
    docs = Document.__table__
    rows = conn.execute(
        select(docs.c.id, docs.c.source, docs.c.title, docs.c.body, docs.c.published_at).where(docs.c.id.in_(ids))
    )
    return {row.id: ((row.source, row.title, row.body), row.published_at) for row in rows}


def _published_as_stored(
    item: ScoredMessage, stored: tuple[tuple[str, str, str], datetime] | None
) -> ScoredMessage:
    """A replayed document's score carries the stored document's publication time (first arrival wins).

    On PostgreSQL the scores are partitioned by it and keyed on it too, so a replay whose message
    says another time must still meet the score already there.
    """
    if stored is None or stored[1] == item.published_at:
        return item
    return item.model_copy(update={"published_at": stored[1]})


def _score_key(conn: Connection) -> dict[str, object]:
    """The ON CONFLICT target of scores: their primary key, by name on PostgreSQL.

    On PostgreSQL the key holds the partition key too (migration ops_0004: document_id,
    model_version, published_at); naming the constraint fits the table before and after it.
    """
    if conn.dialect.name == "postgresql":
        return {"constraint": "pk_scores"}
    return {"index_elements": ["document_id", "model_version"]}


def rebuild_rollups(session: Session, *, model_version: str, since: datetime, until: datetime) -> int:
    """Recompute one model version's rollups for [since, until) from the scores; returns minute rows written.

    Used after backfills and repairs: the incremental path in ``write_scored`` is exact, but a
    rebuild makes any range provably consistent with the scores it summarises. The hourly rows
    of every hour the range touches, whole or in part, are then summed again from the minutes.
    """
    conn = session.connection()
    # Whole UTC minutes: every minute row deleted is recomputed from all of its scores.
    since, until = floor_time(since, MINUTE), ceil_time(until, MINUTE)
    rollups = Rollup.__table__
    conn.execute(
        rollups.delete().where(
            rollups.c.model_version == model_version, rollups.c.minute >= since, rollups.c.minute < until
        )
    )
    scores, documents = Score.__table__, Document.__table__
    query = (
        select(documents.c.source, documents.c.tickers, scores.c.topic, scores.c.sentiment, scores.c.published_at)
        .join(documents, documents.c.id == scores.c.document_id)
        .where(scores.c.model_version == model_version, scores.c.published_at >= since, scores.c.published_at < until)
        .execution_options(yield_per=5000)
    )
    deltas: dict[RollupKey, Counter[str]] = {}
    for source, tickers, topic, sentiment, published_at in conn.execute(query):
        minute = published_at.replace(second=0, microsecond=0)
        for kind, scope in scope_keys(source=source, topic=topic, tickers=tickers or []):
            deltas.setdefault((model_version, kind, scope, minute), Counter())[sentiment] += 1
    _upsert(conn, rollups, "minute", deltas, sign=1)
    _rebuild_hours(conn, model_version=model_version, since=since, until=until)
    return len(deltas)


def _rebuild_hours(conn: Connection, *, model_version: str, since: datetime, until: datetime) -> None:
    """Replace the hourly rows of every hour that [since, until) touches with the sums of their minutes."""
    first, last = floor_time(since, HOUR), ceil_time(until, HOUR)
    minutes, hours = Rollup.__table__.c, HourlyRollup.__table__
    conn.execute(
        hours.delete().where(
            hours.c.model_version == model_version, hours.c.hour >= first, hours.c.hour < last
        )
    )
    hour = _hour_of(conn, minutes.minute).label("hour")
    conn.execute(
        hours.insert().from_select(
            ["model_version", "scope_kind", "scope", "hour", *SENTIMENT_LABELS],
            select(
                minutes.model_version,
                minutes.scope_kind,
                minutes.scope,
                hour,
                *(func.sum(minutes[s]) for s in SENTIMENT_LABELS),
            )
            .where(minutes.model_version == model_version, minutes.minute >= first, minutes.minute < last)
            .group_by(minutes.model_version, minutes.scope_kind, minutes.scope, hour),
        )
    )


def _hour_of(conn: Connection, minute: ColumnElement[datetime]) -> ColumnElement[datetime]:
    """The UTC hour of a stored minute, in the form the ORM stores it (migration 0003 does the same)."""
    if conn.dialect.name == "postgresql":
        # Two-argument date_trunc follows the session time zone.
        return func.date_trunc(literal_column("'hour'"), minute, literal_column("'UTC'"), type_=UTCDateTime())
    # SQLite keeps UTCDateTime values as 'YYYY-MM-DD HH:MM:SS.ffffff' text and compares them as text.
    return func.strftime(literal_column("'%Y-%m-%d %H:00:00.000000'"), minute, type_=UTCDateTime())
