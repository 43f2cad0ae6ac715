"""Idempotent writes of scored documents, and the per-minute and hourly rollups kept beside them.

One call writes one micro-batch in one transaction: documents (first arrival wins), scores
(one row per document and model version) and rollup increments for exactly the scores that
were new, into ``rollups`` (per minute) and ``rollups_hourly`` (the same counts per hour).
Replaying a batch therefore changes nothing, which is what makes at-least-once delivery from
Kafka safe.

Given ``StoryOptions`` (the worker and backfill pass the configured ones), each new document is
also matched against the stories of the window around it (``finsent.stories``) and stored with
its story id, and a story counts once per scope: the first stored copy of a story in a scope
adds its sentiment there, later copies add to ``duplicates`` (``count = "stories"``). A ticker
scope counts the ticker's own sentiment when the score carries one (``ticker_sentiments``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Insert,
    LargeBinary,
    String,
    Table,
    bindparam,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from finsent.messages import SENTIMENT_LABELS, ScoredMessage, utcnow
from finsent.stories import StoryOptions, band_keys, from_bytes, signature, to_bytes
from finsent.tables import Document, HourlyRollup, Rollup, Score, StoryBand, StoryScope, UTCDateTime
from finsent.timegrid import HOUR, MINUTE, ceil_time, floor_time

__all__ = [
    "ROLLUP_COUNTS",
    "RollupKey",
    "WriteResult",
    "hourly_deltas",
    "rebuild_rollups",
    "rollup_deltas",
    "scope_keys",
    "scope_sentiment",
    "upsert_rollups",
    "write_scored",
]

RollupKey = tuple[str, str, str, datetime]  # model_version, scope_kind, scope, minute (or hour)
# The counters of a rollup row: the sentiments counted, and the copies of stories counted already.
ROLLUP_COUNTS: tuple[str, ...] = (*SENTIMENT_LABELS, "duplicates")
_ID_CHUNK = 900  # SQLite caps bound parameters per statement


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


def scope_sentiment(kind: str, scope: str, sentiment: str, ticker_sentiments: dict[str, Any] | None) -> str:
    """The sentiment a document counts in one scope: a ticker's own when the score has it, else the text's."""
    if kind == "ticker" and ticker_sentiments:
        own = ticker_sentiments.get(scope)
        if own and own.get("sentiment") in SENTIMENT_LABELS:
            return str(own["sentiment"])
    return sentiment


def rollup_deltas(
    rows: Iterable[ScoredMessage], counted: set[tuple[str, str, str, str]] | None = None
) -> dict[RollupKey, Counter[str]]:
    """Per-minute count increments for a set of newly stored scores.

    ``counted`` (counting stories): the (document id, model version, scope_kind, scope) that count
    a story; every other scope of a document adds to ``duplicates`` instead. None counts documents.
    """
    deltas: dict[RollupKey, Counter[str]] = {}
    for row in rows:
        minute = row.published_at.replace(second=0, microsecond=0)
        for kind, scope in scope_keys(source=row.source, topic=row.topic, tickers=row.tickers):
            if counted is None or (row.id, row.model_version, kind, scope) in counted:
                what = scope_sentiment(kind, scope, row.sentiment, row.ticker_sentiments)
            else:
                what = "duplicates"
            deltas.setdefault((row.model_version, kind, scope, minute), Counter())[what] += 1
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
    # Only counting stories makes duplicates; leaving the column out otherwise keeps this statement
    # what it was before migration desk_0005 (the migration tests write through it at older schemas).
    columns = ROLLUP_COUNTS if any(c.get("duplicates") for c in deltas.values()) else SENTIMENT_LABELS
    # Sorted keys: concurrent workers lock rollup rows in the same order, so they cannot deadlock.
    rows = [
        {
            "model_version": key[0],
            "scope_kind": key[1],
            "scope": key[2],
            time_column: key[3],
            **{s: sign * counts.get(s, 0) for s in columns},
        }
        for key, counts in sorted(deltas.items())
    ]
    # One statement, many parameter sets: compiled once and cached. RETURNING makes SQLAlchemy send
    # it in multi-row pages (insertmanyvalues); without it psycopg2's executemany is one round trip
    # per row, which was a third of a batch's write time.
    stmt = _insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["model_version", "scope_kind", "scope", time_column],
        set_={s: table.c[s] + stmt.excluded[s] for s in columns},
    )
    conn.execute(stmt.returning(table.c.scope_kind), rows).all()


def write_scored(
    session: Session, items: Sequence[ScoredMessage], *, stories: StoryOptions | None = None
) -> WriteResult:
    """Store a batch idempotently; the caller's transaction commits it.

    ``stories`` None: no story matching, every document is its own story and counts (as before
    stories existed). Otherwise new documents join the stories of their copies, and with
    ``stories.count == "stories"`` each story counts once per scope.
    """
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
    assigned = _assign_stories(conn, list(documents.values()), stories) if stories is not None else {}
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
    if stories is not None:  # without stories the row is what it was before migration desk_0005
        for row in doc_rows:
            story = assigned.get(row["id"])
            row["story_id"] = story[0] if story else None
            row["story_signature"] = to_bytes(story[1]) if story else None
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
    if any(s.ticker_sentiments for s in batch):
        for row, s in zip(score_rows, sorted(batch, key=lambda s: (s.id, s.model_version)), strict=True):
            row["ticker_sentiments"] = s.ticker_sentiments or None
    score_table = Score.__table__
    score_stmt = (
        _insert(conn, score_table)
        .on_conflict_do_nothing(**_score_key(conn))
        .returning(score_table.c.document_id, score_table.c.model_version)
    )
    if score_rows:
        inserted.update((r.document_id, r.model_version) for r in conn.execute(score_stmt, score_rows))

    if stories is not None:
        _store_bands(conn, {i: assigned[i] for i in new_ids if i in assigned}, documents)
        counted = _count_stories(conn, [unique[k] for k in sorted(inserted)])
        upsert_rollups(conn, rollup_deltas((unique[k] for k in inserted), counted if stories.count == "stories" else None))
    else:
        upsert_rollups(conn, rollup_deltas(unique[k] for k in inserted))
    return WriteResult(documents=len(new_ids), scores=len(inserted), conflicts=tuple(conflicts))


Assignment = tuple[str, np.ndarray, list[int]]  # story id, signature, band keys


def _assign_stories(
    conn: Connection, docs: Sequence[ScoredMessage], options: StoryOptions
) -> dict[str, Assignment]:
    """Each document's story: the story of its most similar copy within the window, else its own id.

    Copies are looked for among the stored documents (by LSH band) and the batch's earlier
    documents, in publication order, so ten copies in one batch make one story.
    """
    bands, rows = options.bands
    prepared = []
    for d in sorted(docs, key=lambda d: (d.published_at, d.id)):
        sig = signature(d.text, options.num_perm)
        prepared.append((d, sig, band_keys(sig, bands, rows)))
    if not prepared:
        return {}
    lo = prepared[0][0].published_at - options.window
    hi = prepared[-1][0].published_at + options.window
    stored = _candidates(
        conn, sorted({k for _, _, keys in prepared for k in keys}), lo, hi, per_band=options.max_candidates
    )
    in_batch: dict[int, list[tuple[str, str, np.ndarray, datetime]]] = {}
    out: dict[str, Assignment] = {}
    for d, sig, keys in prepared:
        # The candidates in the order met (a tie goes to the first), scored in one array operation.
        candidates: dict[str, tuple[str, np.ndarray]] = {}
        for key in keys:
            for other_id, story_id, other_sig, at in [*stored.get(key, ()), *in_batch.get(key, ())]:
                if other_id != d.id and other_id not in candidates and abs(at - d.published_at) <= options.window:
                    candidates[other_id] = (story_id, other_sig)
        story = d.id
        if candidates:
            found = list(candidates.values())
            scores = np.count_nonzero(np.stack([other for _, other in found]) == sig, axis=1) / len(sig)
            best = int(np.argmax(scores))
            if scores[best] >= options.threshold:
                story = found[best][0]
        out[d.id] = (story, sig, keys)
        for key in keys:
            members = in_batch.setdefault(key, [])
            members.append((d.id, story, sig, d.published_at))
            del members[: -options.max_candidates]  # the newest, as for stored copies
    return out


def _candidates(
    conn: Connection, keys: Sequence[int], lo: datetime, hi: datetime, *, per_band: int = 8
) -> dict[int, list[tuple[str, str, np.ndarray, datetime]]]:
    """Stored documents sharing a band with ``keys`` and published in [lo, hi], by band: each band's newest ``per_band``.

    Each band's newest members come from the (band, published_at, document_id) index and only
    they are joined to their documents and signatures, so a crowded band costs a short index
    scan, not its signatures. One row per candidate document, with the bands it was found in: a
    copy shares most of its bands with the text looked up, and fetching its signature once per
    band was most of the cost.
    """
    if conn.dialect.name == "postgresql":
        # LATERAL ... LIMIT reads each band's newest members and stops: ranking every member in
        # the window first grew with the table on a templated feed (a write cost 2.2 ms per
        # message at 4,000 stored documents and 4.1 ms at 20,000).
        params = {"keys": list(keys), "lo": lo, "hi": hi, "per_band": per_band}
        rows: Iterable[Any] = conn.execute(_PG_CANDIDATES, params)
    else:
        rows = _grouped_candidates(conn, keys, lo, hi, per_band)
    found: dict[int, list[tuple[str, str, np.ndarray, datetime]]] = {}
    for doc_id, story_id, raw, at, in_bands in rows:
        member = (doc_id, story_id or doc_id, from_bytes(raw), at)
        for band in in_bands:
            found.setdefault(band, []).append(member)
    return found


_PG_CANDIDATES = text(
    # The bands are grouped per document before the documents are joined, so the signatures are
    # read and sorted once per candidate, not once per band it shares (7,500 rows -> 700 a batch).
    """
    WITH hits AS (
        SELECT m.document_id, array_agg(k.band) AS bands
        FROM unnest(:keys) AS k(band)
        CROSS JOIN LATERAL (
            SELECT b.document_id FROM story_bands AS b
            WHERE b.band = k.band AND b.published_at >= :lo AND b.published_at <= :hi
            ORDER BY b.published_at DESC
            LIMIT :per_band
        ) AS m
        GROUP BY m.document_id
    )
    SELECT d.id, d.story_id, d.story_signature, d.published_at, hits.bands
    FROM hits JOIN documents AS d ON d.id = hits.document_id
    WHERE d.story_signature IS NOT NULL
    """
).bindparams(
    bindparam("keys", type_=postgresql.ARRAY(BigInteger)),
    bindparam("lo", type_=UTCDateTime()),
    bindparam("hi", type_=UTCDateTime()),
).columns(
    id=String,
    story_id=String,
    story_signature=LargeBinary,
    published_at=UTCDateTime(),
    bands=postgresql.ARRAY(BigInteger),
)


def _grouped_candidates(
    conn: Connection, keys: Sequence[int], lo: datetime, hi: datetime, per_band: int
) -> Iterable[tuple[str, str | None, bytes, datetime, list[int]]]:
    """SQLite's form of the look-up (no LATERAL): each band's members ranked in the window, the newest kept."""
    bands, docs = StoryBand.__table__, Document.__table__
    rank = func.row_number().over(partition_by=bands.c.band, order_by=bands.c.published_at.desc()).label("rank")
    ranked = (
        select(bands.c.band, bands.c.document_id, rank)
        .where(
            bands.c.band.in_(bindparam("keys", expanding=True)),
            bands.c.published_at >= lo,
            bands.c.published_at <= hi,
        )
        .subquery("ranked")
    )
    query = (
        select(
            docs.c.id, docs.c.story_id, docs.c.story_signature, docs.c.published_at, func.group_concat(ranked.c.band)
        )
        .join(docs, docs.c.id == ranked.c.document_id)
        .where(ranked.c.rank <= per_band, docs.c.story_signature.is_not(None))
        .group_by(docs.c.id)
    )
    for start in range(0, len(keys), _ID_CHUNK):
        for doc_id, story_id, raw, at, in_bands in conn.execute(query, {"keys": list(keys[start : start + _ID_CHUNK])}):
            yield doc_id, story_id, raw, at, [int(b) for b in in_bands.split(",")]


def _store_bands(conn: Connection, assigned: dict[str, Assignment], documents: dict[str, ScoredMessage]) -> None:
    rows = [
        (key, doc_id, documents[doc_id].published_at)
        for doc_id, (_, _, keys) in sorted(assigned.items())
        for key in dict.fromkeys(keys)
    ]
    if not rows:
        return
    table = StoryBand.__table__
    if conn.dialect.name == "postgresql":
        # Sixteen rows per document: three arrays and unnest() make them one statement with three
        # parameters, where per-row parameters cost the worker's interpreter about 50 us a row.
        band, doc, at = zip(*rows, strict=True)
        conn.execute(_UNNEST_BANDS, {"band": list(band), "document_id": list(doc), "published_at": list(at)})
        return
    # RETURNING makes this one multi-row statement per page (insertmanyvalues).
    columns = ("band", "document_id", "published_at")
    params = [dict(zip(columns, row, strict=True)) for row in rows]
    conn.execute(_insert(conn, table).on_conflict_do_nothing().returning(table.c.band), params).all()


_UNNEST_BANDS = text(
    "INSERT INTO story_bands (band, document_id, published_at) "
    "SELECT * FROM unnest(:band, :document_id, :published_at) ON CONFLICT DO NOTHING"
).bindparams(
    bindparam("band", type_=postgresql.ARRAY(BigInteger)),
    bindparam("document_id", type_=postgresql.ARRAY(String)),
    bindparam("published_at", type_=postgresql.ARRAY(DateTime(timezone=True))),
)


def _count_stories(conn: Connection, scored: Sequence[ScoredMessage]) -> set[tuple[str, str, str, str]]:
    """Record which document counts each (model version, story, scope) first; the keys this batch counts.

    The story of each document as stored (a replayed copy keeps the story it was first given).
    Insert-or-ignore on the story's scope, so two copies never both count, whatever the order.
    """
    if not scored:
        return set()
    docs = Document.__table__
    story_of: dict[str, str] = {}
    ids = sorted({s.id for s in scored})
    query = select(docs.c.id, docs.c.story_id).where(docs.c.id.in_(bindparam("ids", expanding=True)))
    for start in range(0, len(ids), _ID_CHUNK):
        for doc_id, story_id in conn.execute(query, {"ids": ids[start : start + _ID_CHUNK]}):
            story_of[doc_id] = story_id or doc_id
    wanted: dict[tuple[str, str, str, str], str] = {}  # first copy in the batch, in publication order
    for s in sorted(scored, key=lambda s: (s.published_at, s.id)):
        for kind, scope in scope_keys(source=s.source, topic=s.topic, tickers=s.tickers):
            wanted.setdefault((s.model_version, story_of.get(s.id, s.id), kind, scope), s.id)
    table = StoryScope.__table__
    stmt = (
        _insert(conn, table)
        .on_conflict_do_nothing()
        .returning(table.c.model_version, table.c.scope_kind, table.c.scope, table.c.document_id)
    )
    rows = [
        {"model_version": v, "story_id": story, "scope_kind": k, "scope": sc, "document_id": doc}
        for (v, story, k, sc), doc in sorted(wanted.items())
    ]
    return {(r.document_id, r.model_version, r.scope_kind, r.scope) for r in conn.execute(stmt, rows)}


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


def rebuild_rollups(
    session: Session, *, model_version: str, since: datetime, until: datetime, count: str = "documents"
) -> int:
    """Recompute one model version's rollups for [since, until) from the scores; returns minute rows written.

    Used after backfills and repairs: the incremental path in ``write_scored`` is exact, but a
    rebuild makes any range provably consistent with the scores it summarises. The hourly rows
    of every hour the range touches, whole or in part, are then summed again from the minutes.
    ``count="stories"``: a document counts in a scope when it is the copy that counted its story
    there (``story_scopes``), or when nothing did (stored before stories, or written without them).
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
    in_range = (scores.c.model_version == model_version, scores.c.published_at >= since, scores.c.published_at < until)
    counter_of: dict[tuple[str, str, str], str] | None = None
    if count == "stories":
        stories = select(documents.c.story_id).join(scores, documents.c.id == scores.c.document_id).where(*in_range)
        counter_of = _story_counters(conn, model_version, sorted({s for (s,) in conn.execute(stories.distinct()) if s}))
    query = (
        select(
            documents.c.id, documents.c.story_id, documents.c.source, documents.c.tickers, scores.c.topic,
            scores.c.sentiment, scores.c.ticker_sentiments, scores.c.published_at,
        )
        .join(documents, documents.c.id == scores.c.document_id)
        .where(*in_range)
        .execution_options(yield_per=5000)
    )  # fmt: skip
    deltas: dict[RollupKey, Counter[str]] = {}
    for doc_id, story_id, source, tickers, topic, sentiment, per_ticker, published_at in conn.execute(query):
        minute = published_at.replace(second=0, microsecond=0)
        for kind, scope in scope_keys(source=source, topic=topic, tickers=tickers or []):
            counter = counter_of.get((story_id or doc_id, kind, scope), doc_id) if counter_of is not None else doc_id
            what = scope_sentiment(kind, scope, sentiment, per_ticker) if counter == doc_id else "duplicates"
            deltas.setdefault((model_version, kind, scope, minute), Counter())[what] += 1
    _upsert(conn, rollups, "minute", deltas, sign=1)
    _rebuild_hours(conn, model_version=model_version, since=since, until=until)
    return len(deltas)


def _story_counters(conn: Connection, model_version: str, story_ids: Sequence[str]) -> dict[tuple[str, str, str], str]:
    """(story, scope_kind, scope) -> the document that counts the story there."""
    table = StoryScope.__table__
    query = select(table.c.story_id, table.c.scope_kind, table.c.scope, table.c.document_id).where(
        table.c.model_version == model_version, table.c.story_id.in_(bindparam("ids", expanding=True))
    )
    out: dict[tuple[str, str, str], str] = {}
    for start in range(0, len(story_ids), _ID_CHUNK):
        for story, kind, scope, doc in conn.execute(query, {"ids": list(story_ids[start : start + _ID_CHUNK])}):
            out[(story, kind, scope)] = doc
    return out


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
            ["model_version", "scope_kind", "scope", "hour", *ROLLUP_COUNTS],
            select(
                minutes.model_version,
                minutes.scope_kind,
                minutes.scope,
                hour,
                *(func.sum(minutes[s]) for s in ROLLUP_COUNTS),
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
