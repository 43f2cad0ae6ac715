"""What the dashboard reads: plain SQLAlchemy over a Connection, the same on PostgreSQL and SQLite.

Series, totals and rankings read the rollups only, through their primary keys
(model_version, scope_kind, scope, minute or hour), so a year of data costs one index range
per scope. Whole hours come from ``rollups_hourly`` wherever that gives the same answer as
the minutes (``_plan``): 60 times fewer rows on long ranges. Raw rows are read for the
headline list alone, newest first through the (model_version, published_at) index, with a
LIMIT. Nothing here knows about Streamlit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    and_,
    cast,
    exists,
    func,
    inspect,
    literal,
    or_,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.base import ColumnCollection
from sqlalchemy.sql.elements import ColumnElement

from finsent.messages import SENTIMENT_LABELS
from finsent.tables import Alert, Document, HourlyRollup, Rollup, Score, UTCDateTime
from finsent.timegrid import EPOCH, HOUR, ceil_time, floor_time

__all__ = [
    "Counts",
    "VersionInfo",
    "alert_markers",
    "coarsen",
    "counts",
    "firing_alerts",
    "has_alerts",
    "headlines",
    "heat_cells",
    "latest_minute",
    "model_versions",
    "movers",
    "rank_movers",
    "scope_buckets",
    "scope_series",
    "scopes",
    "series",
    "version_span",
    "version_summary",
    "with_rates",
]

log = logging.getLogger(__name__)

_R = Rollup.__table__.c
_H = HourlyRollup.__table__.c
# More minute spans than this in one read (a range with many hour-straddling buckets) and the
# OR of index ranges costs more to plan than the hourly rows save: read the minutes alone.
_MAX_MINUTE_SPANS = 200


@dataclass(frozen=True)
class Counts:
    """Sentiment counts over some span, with the rates the pages show."""

    negative: int = 0
    neutral: int = 0
    positive: int = 0

    @property
    def volume(self) -> int:
        return self.negative + self.neutral + self.positive

    @property
    def negative_rate(self) -> float | None:
        """Share of negative documents; None when there were none at all."""
        return self.negative / self.volume if self.volume else None

    @property
    def net_sentiment(self) -> float | None:
        """(positive - negative) / volume, from -1 (all negative) to +1."""
        return (self.positive - self.negative) / self.volume if self.volume else None


@dataclass(frozen=True)
class VersionInfo:
    """One model version's share of the scores (from the 'all' rollups)."""

    version: str
    first_minute: datetime | None
    last_minute: datetime | None
    counts: Counts


def _distinct(conn: Connection, column: str, where: str, params: dict[str, object]) -> list[str]:
    # A recursive "loose index scan": one index probe per distinct value, so listing the 20
    # topics of a 20-million-row rollup table costs 21 probes, not a scan (PostgreSQL 15 has
    # no skip scan; SQLite runs the same SQL).
    sql = text(
        f"""
        WITH RECURSIVE d(v) AS (
            SELECT MIN({column}) FROM rollups WHERE {where}
            UNION ALL
            SELECT (SELECT MIN({column}) FROM rollups WHERE {where} AND {column} > d.v)
            FROM d WHERE d.v IS NOT NULL
        )
        SELECT v FROM d WHERE v IS NOT NULL
        """
    )
    return [row[0] for row in conn.execute(sql, params)]


def model_versions(conn: Connection) -> list[str]:
    """Every model version with rollups, most recently active first."""
    versions = _distinct(conn, "model_version", "1 = 1", {})
    last = {v: latest_minute(conn, model_version=v) for v in versions}
    floor = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(versions, key=lambda v: (last[v] or floor, v), reverse=True)


def latest_minute(conn: Connection, *, model_version: str) -> datetime | None:
    """The newest minute with data for this version (one index probe)."""
    return conn.execute(
        select(func.max(_R.minute)).where(_R.model_version == model_version, _R.scope_kind == "all")
    ).scalar()


def scopes(conn: Connection, *, model_version: str, kind: str) -> list[str]:
    """The topics, tickers or sources this version has rollups for, sorted."""
    return _distinct(
        conn,
        "scope",
        "model_version = :v AND scope_kind = :k",
        {"v": model_version, "k": kind},
    )


def _bucket(
    conn: Connection, bucket: timedelta, origin: datetime = EPOCH, time: ColumnElement[datetime] = _R.minute
) -> ColumnElement[object]:
    """The bucket each rollup's ``time`` falls in, buckets counted from ``origin`` (UTC; not after the data).

    A timestamp on PostgreSQL, epoch seconds on SQLite (``_epoch_seconds`` makes both seconds).
    """
    if conn.dialect.name == "postgresql":
        # date_bin (PostgreSQL 14+) stays in timestamps; extract(epoch) is numeric, whose
        # arithmetic per row doubles the cost of a year of minutes.
        return func.date_bin(literal(bucket), time, literal(origin, UTCDateTime()), type_=UTCDateTime())
    # SQLite stores the time as 'YYYY-MM-DD HH:MM:SS.ffffff' text in UTC. '//' is SQL integer
    # division (SQLAlchemy 2 renders '/' on integers as true division); it truncates toward
    # zero, hence an origin not after the data.
    seconds = int(bucket.total_seconds())
    base = int((origin - EPOCH).total_seconds())
    return ((cast(func.strftime("%s", time), BigInteger) - base) // seconds) * seconds + base


@dataclass(frozen=True)
class _Plan:
    """Where a read gets its counts: minute spans from ``rollups``, whole hours from ``rollups_hourly``."""

    minute_spans: tuple[tuple[datetime, datetime], ...]
    hours: tuple[datetime, datetime] | None = None  # [first, last) whole hours, ...
    skip_hours: tuple[datetime, ...] = ()  # ... less these, which straddle a bucket boundary


def _plan(start: datetime, end: datetime, bucket: timedelta | None, origin: datetime = EPOCH) -> _Plan:
    """Split [start, end) between the hourly and the minute rollups so that the sums are the minutes' exactly.

    An hour is read from ``rollups_hourly`` when it lies inside [start, end) and inside one
    bucket (``bucket`` None: no buckets, a plain total). Buckets that are not whole hours
    split every hour, so they read minutes only. With whole-hour buckets counted from an
    origin on the hour, only the partial hours at the ends come from the minutes. With an
    origin off the hour (the movers windows end on 5 or 15 minute slots and count buckets from
    the baseline's start), every bucket boundary also falls inside an hour, and that hour is
    read from the minutes as well.
    """
    everything = _Plan(minute_spans=((start, end),))
    if bucket is not None and (bucket < HOUR or bucket % HOUR):
        return everything
    first, last = ceil_time(start, HOUR), floor_time(end, HOUR)
    if first >= last:
        return everything
    split: list[datetime] = []  # hours a bucket boundary falls inside
    if bucket is not None and (origin - EPOCH) % HOUR:
        boundary = origin + -((origin - first) // bucket) * bucket  # the first one at or after ``first``
        while boundary < last:
            split.append(floor_time(boundary, HOUR))
            boundary += bucket
    if len(split) >= (last - first) // HOUR:
        return everything  # no whole hour left
    spans: list[tuple[datetime, datetime]] = []
    for lo, hi in [(start, first), *((h, h + HOUR) for h in split), (last, end)]:
        if lo >= hi:
            continue
        if spans and spans[-1][1] == lo:  # adjacent: one index range
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    if len(spans) > _MAX_MINUTE_SPANS:
        return everything
    return _Plan(minute_spans=tuple(spans), hours=(first, last), skip_hours=tuple(split))


def _rollup_read(
    conn: Connection,
    *,
    model_version: str,
    where: Callable[[ColumnCollection], list[ColumnElement[bool]]],
    start: datetime,
    end: datetime,
    bucket: timedelta | None = None,
    origin: datetime = EPOCH,
    by_scope: bool = False,
) -> Select:
    """Sums of the rollups matching ``where`` over [start, end), per scope and/or bucket when asked.

    Columns: [scope], [bucket], negative, neutral, positive. The minute and hourly parts
    (``_plan``) are one UNION ALL summed again, so the read is one statement and one snapshot.
    """
    plan = _plan(start, end, bucket, origin)
    parts: list[Select] = []
    for c, time, condition in (
        (_R, _R.minute, _minute_condition(plan)),
        (_H, _H.hour, _hour_condition(plan)),
    ):
        if condition is None:
            continue
        keys: list[ColumnElement[object]] = [c.scope] if by_scope else []
        if bucket is not None:
            keys.append(_bucket(conn, bucket, origin, time).label("bucket"))
        part = select(*keys, *_sums(c)).where(c.model_version == model_version, *where(c), condition)
        parts.append(part.group_by(*keys) if keys else part)
    if len(parts) == 1:
        return parts[0]
    both = union_all(*parts).subquery()
    keys = [both.c[k] for k in (["scope"] if by_scope else []) + (["bucket"] if bucket is not None else [])]
    # cast: PostgreSQL's sum of bigints is numeric, which would come back as Decimal.
    stmt = select(*keys, *(cast(func.sum(both.c[s]), BigInteger).label(s) for s in SENTIMENT_LABELS))
    return stmt.group_by(*keys) if keys else stmt


def _minute_condition(plan: _Plan) -> ColumnElement[bool] | None:
    if not plan.minute_spans:
        return None
    return or_(*(and_(_R.minute >= lo, _R.minute < hi) for lo, hi in plan.minute_spans))


def _hour_condition(plan: _Plan) -> ColumnElement[bool] | None:
    if plan.hours is None:
        return None
    condition = and_(_H.hour >= plan.hours[0], _H.hour < plan.hours[1])
    return and_(condition, _H.hour.not_in(plan.skip_hours)) if plan.skip_hours else condition


def _epoch_seconds(values: pd.Series) -> pd.Series:
    """Bucket values from ``_bucket`` (timestamps or epoch seconds) as int64 epoch seconds."""
    if values.empty or pd.api.types.is_integer_dtype(values):
        return values.astype("int64")
    if isinstance(values.iloc[0], datetime):
        return (pd.to_datetime(values, utc=True) - pd.Timestamp(EPOCH)) // pd.Timedelta(seconds=1)
    return values.astype("int64")


def _scope(kind: str, scope: str) -> Callable[[ColumnCollection], list[ColumnElement[bool]]]:
    """The conditions selecting one scope's rows of a rollup table (given its columns)."""

    def where(c: ColumnCollection) -> list[ColumnElement[bool]]:
        # The 'all' kind has the single scope '*'. Leaving the scope out lets PostgreSQL answer
        # from the partial covering index ix_rollups_all_scope_counts (model_version, minute,
        # counts) WHERE scope_kind = 'all' with an index-only scan: a year of minutes without
        # heap reads.
        if kind == "all":
            return [c.scope_kind == "all"]
        return [c.scope_kind == kind, c.scope == scope]

    return where


def _sums(c: ColumnCollection = _R) -> list[ColumnElement[int]]:
    return [func.coalesce(func.sum(c[s]), 0).label(s) for s in SENTIMENT_LABELS]


def counts(
    conn: Connection, *, model_version: str, kind: str, scope: str, start: datetime, end: datetime
) -> Counts:
    """Sentiment counts for one scope over [start, end)."""
    row = conn.execute(
        _rollup_read(conn, model_version=model_version, where=_scope(kind, scope), start=start, end=end)
    ).one()
    return Counts(int(row.negative), int(row.neutral), int(row.positive))


def series(
    conn: Connection,
    *,
    model_version: str,
    kind: str,
    scope: str,
    start: datetime,
    end: datetime,
    bucket: timedelta,
) -> pd.DataFrame:
    """Counts per bucket over [start, end), every bucket present (empty ones as zeros), with rates."""
    rows = conn.execute(
        _rollup_read(
            conn,
            model_version=model_version,
            where=_scope(kind, scope),
            start=start,
            end=end,
            bucket=bucket,
        )
    ).all()
    frame = pd.DataFrame(rows, columns=["bucket", *SENTIMENT_LABELS])
    first = int((start - EPOCH) // bucket) * int(bucket.total_seconds())
    step = int(bucket.total_seconds())
    full = pd.DataFrame({"bucket": range(first, int((end - EPOCH).total_seconds()), step)})
    frame["bucket"] = _epoch_seconds(frame["bucket"])
    frame = full.merge(frame, on="bucket", how="left").fillna(0)
    frame["time"] = pd.to_datetime(frame["bucket"], unit="s", utc=True)
    for s in SENTIMENT_LABELS:
        frame[s] = frame[s].astype("int64")
    return with_rates(frame.drop(columns="bucket"))[
        ["time", *SENTIMENT_LABELS, "volume", "negative_rate", "net_sentiment"]
    ]


def with_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds volume, negative_rate and net_sentiment (NaN where volume is 0) to a counts frame."""
    out = frame.copy()
    out["volume"] = out["negative"] + out["neutral"] + out["positive"]
    denominator = out["volume"].where(out["volume"] > 0)
    out["negative_rate"] = out["negative"] / denominator
    out["net_sentiment"] = (out["positive"] - out["negative"]) / denominator
    return out


_MOVER_COLUMNS = [
    "scope",
    "volume",
    "negative",
    "negative_rate",
    "baseline_volume",
    "baseline_rate",
    "change",
    "volume_ratio",
]


def scope_buckets(
    conn: Connection,
    *,
    model_version: str,
    kind: str,
    start: datetime,
    end: datetime,
    bucket: timedelta,
) -> pd.DataFrame:
    """Counts of every scope of a kind per bucket over [start, end), buckets counted from ``start``.

    Columns scope, time, negative, neutral, positive (buckets without documents are absent).
    One scan serves both the movers ranking and the heatmap (``rank_movers``, ``heat_cells``).
    """
    rows = conn.execute(
        _rollup_read(
            conn,
            model_version=model_version,
            # Every scope of the kind, by time range: no list of scopes, which would send PostgreSQL
            # down the primary key one scope at a time, re-reading each minute's page per scope.
            where=lambda c: [c.scope_kind == kind],
            start=start,
            end=end,
            bucket=bucket,
            origin=start,
            by_scope=True,
        )
    ).all()
    frame = pd.DataFrame(rows, columns=["scope", "bucket", *SENTIMENT_LABELS])
    frame["time"] = pd.to_datetime(_epoch_seconds(frame["bucket"]), unit="s", utc=True)
    frame = frame.astype({s: "int64" for s in SENTIMENT_LABELS})
    return frame[["scope", "time", *SENTIMENT_LABELS]]


def rank_movers(
    buckets: pd.DataFrame,
    *,
    baseline_start: datetime,
    window_start: datetime,
    end: datetime,
    market_rate: float | None,
    min_volume: int = 5,
) -> pd.DataFrame:
    """Negative-rate change of each scope in [window_start, end) against [baseline_start, window_start).

    ``buckets`` is ``scope_buckets`` output over [baseline_start, end) whose buckets do not
    straddle ``window_start``. Columns: scope, volume, negative, negative_rate, baseline_volume,
    baseline_rate, change (percentage points), volume_ratio (window volume per hour over the
    baseline's). A scope with no baseline documents (a company new to the news) is compared
    with the whole stream's baseline rate, ``market_rate``, so a sudden first appearance still
    ranks. Scopes under ``min_volume`` documents in the window are left out: two headlines make
    no trend. Sorted by change, largest rise first.
    """
    if buckets.empty:
        return pd.DataFrame(columns=_MOVER_COLUMNS)
    recent = buckets["time"] >= pd.Timestamp(window_start)
    totals = buckets[list(SENTIMENT_LABELS)].sum(axis=1)
    parts = pd.DataFrame(
        {
            "scope": buckets["scope"],
            "volume": totals.where(recent, 0),
            "negative": buckets["negative"].where(recent, 0),
            "baseline_volume": totals.where(~recent, 0),
            "baseline_negative": buckets["negative"].where(~recent, 0),
        }
    )
    frame = parts.groupby("scope", as_index=False).sum()
    frame = frame[frame["volume"] >= min_volume]
    if frame.empty:
        return pd.DataFrame(columns=_MOVER_COLUMNS)
    frame["negative_rate"] = frame["negative"] / frame["volume"]
    base = frame["baseline_volume"].where(frame["baseline_volume"] > 0)
    frame["baseline_rate"] = (frame["baseline_negative"] / base).fillna(
        market_rate if market_rate is not None else float("nan")
    )
    frame["change"] = (frame["negative_rate"] - frame["baseline_rate"]) * 100
    hours_window = (end - window_start).total_seconds() / 3600
    hours_base = (window_start - baseline_start).total_seconds() / 3600
    frame["volume_ratio"] = (frame["volume"] / hours_window) / (base / hours_base)
    frame = frame.sort_values(["change", "volume"], ascending=[False, False], na_position="last")
    return frame.reset_index(drop=True)[_MOVER_COLUMNS]


def scope_series(
    buckets: pd.DataFrame, *, scope: str, start: datetime, end: datetime, bucket: timedelta
) -> pd.DataFrame:
    """One scope's ``series``-shaped frame (every bucket, with rates) from ``scope_buckets`` output."""
    grid = pd.DataFrame({"time": pd.date_range(start, end, freq=bucket, inclusive="left")})
    mine = buckets.loc[buckets["scope"] == scope, ["time", *SENTIMENT_LABELS]]
    frame = grid.merge(mine, on="time", how="left").fillna(0).astype({s: "int64" for s in SENTIMENT_LABELS})
    return with_rates(frame)[["time", *SENTIMENT_LABELS, "volume", "negative_rate", "net_sentiment"]]


def coarsen(frame: pd.DataFrame, *, start: datetime, bucket: timedelta) -> pd.DataFrame:
    """A ``series``-shaped frame re-bucketed to ``bucket`` (a multiple of its own), counted from ``start``."""
    offset = (frame["time"] - pd.Timestamp(start)) // bucket
    grouped = frame.assign(time=pd.Timestamp(start) + offset * bucket).groupby("time", as_index=False)
    out = grouped[list(SENTIMENT_LABELS)].sum()
    return with_rates(out)[["time", *SENTIMENT_LABELS, "volume", "negative_rate", "net_sentiment"]]


def heat_cells(buckets: pd.DataFrame, *, names: Sequence[str], start: datetime) -> pd.DataFrame:
    """Heatmap cells (scope, time, volume, negative_rate) of ``names`` from ``start`` (``scope_buckets``)."""
    chosen = buckets[buckets["scope"].isin(list(names)) & (buckets["time"] >= pd.Timestamp(start))]
    return with_rates(chosen)[["scope", "time", "volume", "negative_rate"]].reset_index(drop=True)


def movers(
    conn: Connection,
    *,
    model_version: str,
    kind: str,
    baseline_start: datetime,
    window_start: datetime,
    end: datetime,
    min_volume: int = 5,
) -> pd.DataFrame:
    """``rank_movers`` straight from the database, one bucket per window length."""
    span = end - window_start
    if (window_start - baseline_start) % span:
        raise ValueError("the baseline must be a whole number of windows long")
    buckets = scope_buckets(
        conn, model_version=model_version, kind=kind, start=baseline_start, end=end, bucket=span
    )
    market = counts(
        conn, model_version=model_version, kind="all", scope="*", start=baseline_start, end=window_start
    )
    return rank_movers(
        buckets,
        baseline_start=baseline_start,
        window_start=window_start,
        end=end,
        market_rate=market.negative_rate,
        min_volume=min_volume,
    )


def headlines(
    conn: Connection,
    *,
    model_version: str,
    start: datetime,
    end: datetime,
    search: str = "",
    sentiments: Sequence[str] = (),
    topics: Sequence[str] = (),
    sources: Sequence[str] = (),
    ticker: str = "",
    min_score: float = 0.0,
    limit: int = 200,
) -> pd.DataFrame:
    """The newest scored documents in [start, end) that match every filter given, at most ``limit``."""
    d, s = Document.__table__.c, Score.__table__.c
    conditions: list[ColumnElement[bool]] = [
        s.model_version == model_version,
        s.published_at >= start,
        s.published_at < end,
        # The same bounds on documents (published_at is copied into scores): with a search, the
        # planner may start from documents, and then its published_at index bounds the scan.
        d.published_at >= start,
        d.published_at < end,
    ]
    if search.strip():
        conditions.append(d.title.icontains(search.strip(), autoescape=True))
    if sentiments:
        conditions.append(s.sentiment.in_(list(sentiments)))
    if topics:
        conditions.append(s.topic.in_(list(topics)))
    if sources:
        conditions.append(d.source.in_(list(sources)))
    if min_score > 0:
        conditions.append(s.sentiment_score >= min_score)
    symbol = ticker.strip().lstrip("$").upper()
    if symbol:
        conditions.append(_has_ticker(conn, symbol))
    # published_at and the id are the same on both tables; ordering by the table the filters
    # are on lets PostgreSQL walk that table's time index newest first and stop at the limit
    # (a ticker or search filter: documents; only sentiment, topic or score filters: scores).
    # Ordering by the other table makes it collect every match in the range and sort them.
    score_side_only = bool(sentiments or topics or min_score > 0) and not (
        search.strip() or sources or symbol
    )
    order = (s.published_at.desc(), s.document_id) if score_side_only else (d.published_at.desc(), d.id)
    rows = conn.execute(
        select(
            s.published_at.label("time"),
            d.source,
            d.kind,
            d.title,
            s.topic,
            s.sentiment,
            s.sentiment_score.label("score"),
            d.tickers,
            d.url,
            d.id,
        )
        .join(Document.__table__, d.id == s.document_id)
        .where(and_(*conditions))
        .order_by(*order)
        .limit(limit)
    ).all()
    frame = pd.DataFrame(
        rows,
        columns=["time", "source", "kind", "title", "topic", "sentiment", "score", "tickers", "url", "id"],
    )
    frame["tickers"] = frame["tickers"].map(lambda t: ", ".join(t or []))
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def _has_ticker(conn: Connection, symbol: str) -> ColumnElement[bool]:
    tickers = Document.__table__.c.tickers
    if conn.dialect.name == "postgresql":
        return type_coerce(tickers, JSONB).contains([symbol])
    each = func.json_each(tickers).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == symbol))


def version_span(conn: Connection, *, model_version: str) -> tuple[datetime | None, datetime | None]:
    """The first and last minute this version has scores for (two index probes)."""
    row = conn.execute(
        select(func.min(_R.minute), func.max(_R.minute)).where(
            _R.model_version == model_version, _R.scope_kind == "all"
        )
    ).one()
    return row[0], row[1]


def version_summary(conn: Connection, *, model_version: str) -> VersionInfo:
    """How much one model version scored, its sentiment mix and the event-time span it covers."""
    row = conn.execute(
        select(func.min(_R.minute), func.max(_R.minute), *_sums()).where(
            _R.model_version == model_version, _R.scope_kind == "all"
        )
    ).one()
    return VersionInfo(
        version=model_version,
        first_minute=row[0],
        last_minute=row[1],
        counts=Counts(int(row.negative), int(row.neutral), int(row.positive)),
    )


def has_alerts(conn: Connection) -> bool:
    """Whether the alerts tables exist yet (migration 0002); pages degrade gracefully before it."""
    return inspect(conn).has_table(Alert.__tablename__)


def alert_markers(
    conn: Connection,
    *,
    start: datetime,
    end: datetime,
    model_version: str | None = None,
    scope_kind: str | None = None,
    scope: str | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """Alerts that started in [start, end): columns time, label, state, severity (for chart markers)."""
    a = Alert.__table__.c
    conditions = [a.started_at >= start, a.started_at < end]
    if model_version is not None:
        conditions.append(a.model_version == model_version)
    if scope_kind is not None:
        conditions.append(a.scope_kind == scope_kind)
    if scope is not None:
        conditions.append(a.scope == scope)
    rows = conn.execute(
        select(a.started_at, a.rule, a.scope_kind, a.scope, a.severity, a.state)
        .where(*conditions)
        .order_by(a.started_at.desc())
        .limit(limit)
    ).all()
    frame = pd.DataFrame(
        [
            (
                r.started_at,
                f"{r.severity} · {r.rule} · {r.scope_kind} {r.scope} ({r.state})",
                r.state,
                r.severity,
            )
            for r in rows
        ],
        columns=["time", "label", "state", "severity"],
    )
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def firing_alerts(conn: Connection) -> int:
    """How many alerts are firing now (through the (state, started_at) index)."""
    return int(conn.execute(select(func.count()).where(Alert.__table__.c.state == "firing")).scalar() or 0)
