"""Cached reads for the pages: ``queries`` behind ``st.cache_data``, one engine per database URL.

Time-bounded reads are keyed on their [start, end), which the pages pin to a slot
(``ranges.Range.bounds``), so a long TTL is safe: a new slot is a new key. Lists that do
not move with the clock (model versions, topics, tickers) get short TTLs instead, so a new
topic or version shows within a minute or five.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
import streamlit as st
from sqlalchemy import Engine, event

from finsent.dashboard import queries
from finsent.db import make_engine

__all__ = [
    "alert_markers",
    "counts",
    "database_answers",
    "engine",
    "firing_alerts",
    "has_alerts",
    "headlines",
    "model_versions",
    "scope_buckets",
    "scopes",
    "series",
    "version_span",
    "version_summary",
]


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    """One pooled engine per database for the whole server process."""
    built = make_engine(url)
    if built.dialect.name == "postgresql":
        event.listen(built, "connect", _planner_settings)
    return built


def _planner_settings(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # The dashboard reads a hot, cached working set (recent rollups, recent rows). PostgreSQL's
    # default random_page_cost (4, for spinning disks) makes it scan the whole rollup table for
    # a 35-day ranking instead of walking the minute index (3 s against 1 s on 10M documents),
    # and JIT compiling adds a quarter second to queries that run in well under one.
    # Only the dashboard's own sessions are changed.
    cursor = dbapi_connection.cursor()
    cursor.execute("SET random_page_cost = 1.1")
    cursor.execute("SET jit = off")
    cursor.close()
    # psycopg2 opened a transaction for the SETs; the pool's rollback-on-return would undo them.
    dbapi_connection.commit()


def database_answers(url: str) -> bool:
    """Whether the database answers a trivial query now (never cached: the unavailable page polls it)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine(url).connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False


@st.cache_data(ttl=30, show_spinner=False)
def model_versions(url: str) -> list[str]:
    with engine(url).connect() as conn:
        return queries.model_versions(conn)


@st.cache_data(ttl=300, max_entries=64, show_spinner=False)
def scopes(url: str, model_version: str, kind: str) -> list[str]:
    with engine(url).connect() as conn:
        return queries.scopes(conn, model_version=model_version, kind=kind)


@st.cache_data(ttl=3600, max_entries=256, show_spinner=False)
def counts(
    url: str, model_version: str, kind: str, scope: str, start: datetime, end: datetime
) -> queries.Counts:
    with engine(url).connect() as conn:
        return queries.counts(conn, model_version=model_version, kind=kind, scope=scope, start=start, end=end)


@st.cache_data(ttl=3600, max_entries=256, show_spinner=False)
def series(
    url: str, model_version: str, kind: str, scope: str, start: datetime, end: datetime, bucket: timedelta
) -> pd.DataFrame:
    with engine(url).connect() as conn:
        return queries.series(
            conn, model_version=model_version, kind=kind, scope=scope, start=start, end=end, bucket=bucket
        )


@st.cache_data(ttl=3600, max_entries=128, show_spinner=False)
def scope_buckets(
    url: str,
    model_version: str,
    kind: str,
    start: datetime,
    end: datetime,
    bucket: timedelta,
    refreshed: datetime | None = None,
) -> pd.DataFrame:
    # ``refreshed`` is only part of the cache key: a new value redoes a read whose end lies ahead.
    del refreshed
    with engine(url).connect() as conn:
        return queries.scope_buckets(
            conn, model_version=model_version, kind=kind, start=start, end=end, bucket=bucket
        )


@st.cache_data(ttl=3600, max_entries=256, show_spinner=False)
def headlines(
    url: str,
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
    with engine(url).connect() as conn:
        return queries.headlines(
            conn,
            model_version=model_version,
            start=start,
            end=end,
            search=search,
            sentiments=tuple(sentiments),
            topics=tuple(topics),
            sources=tuple(sources),
            ticker=ticker,
            min_score=min_score,
            limit=limit,
        )


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def version_summary(url: str, model_version: str) -> queries.VersionInfo:
    with engine(url).connect() as conn:
        return queries.version_summary(conn, model_version=model_version)


@st.cache_data(ttl=300, show_spinner=False)
def has_alerts(url: str) -> bool:
    with engine(url).connect() as conn:
        return queries.has_alerts(conn)


@st.cache_data(ttl=3600, max_entries=128, show_spinner=False)
def alert_markers(
    url: str,
    start: datetime,
    end: datetime,
    model_version: str | None = None,
    scope_kind: str | None = None,
    scope: str | None = None,
) -> pd.DataFrame | None:
    """Alert markers, or None before the alerts tables exist."""
    if not has_alerts(url):
        return None
    with engine(url).connect() as conn:
        return queries.alert_markers(
            conn, start=start, end=end, model_version=model_version, scope_kind=scope_kind, scope=scope
        )


@st.cache_data(ttl=10, show_spinner=False)
def firing_alerts(url: str) -> int | None:
    """Firing alerts now, or None before the alerts tables exist."""
    if not has_alerts(url):
        return None
    with engine(url).connect() as conn:
        return queries.firing_alerts(conn)


@st.cache_data(ttl=60, max_entries=32, show_spinner=False)
def version_span(url: str, model_version: str) -> tuple[datetime | None, datetime | None]:
    with engine(url).connect() as conn:
        return queries.version_span(conn, model_version=model_version)
