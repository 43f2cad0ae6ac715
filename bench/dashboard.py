"""A large PostgreSQL database for the dashboard's speed check, generated inside the server.

``seed_bench`` writes N documents with one score each through ``INSERT ... SELECT
generate_series`` (no rows cross the wire), then builds the per-minute rollups with one
``INSERT ... SELECT ... GROUP BY`` per scope kind and the hourly rollups with one more from
those, the same rows ``finsent.store`` keeps incrementally. The data has a shape worth
looking at: 8 sources, 20 topics, 40 tickers, per-topic negative rates on a daily wave, and
a recent spike (Energy | Oil, XOM) for the movers table to find. ``time_pages`` then
renders every page (its default view and its heaviest choices) with AppTest and times it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, text

from finsent.dashboard.ranges import WINDOWS
from finsent.model.labels import TOPIC_LABELS

__all__ = [
    "BENCH_SOURCES",
    "BENCH_TICKERS",
    "BENCH_VERSION",
    "PAGE_CASES",
    "PageCase",
    "PageTiming",
    "seed_bench",
    "time_pages",
]

log = logging.getLogger(__name__)

BENCH_VERSION = "bench-minilm@00000000"
BENCH_SOURCES = (
    "reuters-wire", "bloomberg-wire", "dowjones", "marketwatch",
    "ft", "seekingalpha", "stocktwits", "reddit-wsb",
)  # fmt: skip
BENCH_TICKERS = (
    "AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "TSLA", "JPM", "BAC", "GS",
    "MS", "C", "WFC", "XOM", "CVX", "COP", "SLB", "BP", "SHEL", "OXY",
    "JNJ", "PFE", "MRK", "ABBV", "LLY", "UNH", "KO", "PEP", "WMT", "COST",
    "HD", "NKE", "DIS", "NFLX", "INTC", "AMD", "CSCO", "ORCL", "IBM", "BA",
)  # fmt: skip
_PHRASES = {
    "negative": (
        "shares slide after",
        "cut to underweight amid",
        "plunges on",
        "warns on",
        "faces probe over",
    ),
    "neutral": ("to report", "holds steady ahead of", "announces", "schedules call on", "unchanged after"),
    "positive": ("jumps on", "upgraded on", "beats estimates with", "rallies after", "raises guidance on"),
}
_OBJECTS = (
    "quarterly results", "oil supply worries", "rate decision", "merger talks",
    "regulatory review", "new product launch", "dividend news", "debt offering",
)  # fmt: skip
_CHUNK = 500_000


def _array(values: tuple[str, ...]) -> str:
    quoted = ",".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"ARRAY[{quoted}]::text[]"


# One statement writes a chunk of documents and their scores from the same generated rows
# (a CTE read twice is materialised once, so both tables see the same random draws).
# Rows come in event-time order, as a live feed writes them (random order would scatter each
# time range over the whole table, a layout no real deployment has); rollups likewise go in
# minute order. Every 20,000th row is part of the spike: the last 90 minutes, Energy | Oil,
# XOM, mostly negative (late arrivals, as real spikes partly are).
_CHUNK_SQL = f"""
WITH base AS (
    SELECT g,
           CASE WHEN g % 20000 = 0
                THEN :end_ts - make_interval(secs => floor(random() * 5400))
                ELSE :end_ts - make_interval(
                    secs => floor((1 - g / CAST(:rows AS float8)) * :span_s + random() * 60))
                END AS ts,
           CASE WHEN g % 20000 = 0 THEN 7 ELSE (g * 7919) % 20 END AS t_idx,
           CASE WHEN g % 20000 = 0 THEN 14 ELSE (g * 104729) % 40 END AS k1,
           (g * 31) % 40 AS k2,
           random() AS r,
           random() AS conf
    FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
), gen AS (
    SELECT g, ts, k1, k2, conf,
           ({_array(TOPIC_LABELS)})[t_idx + 1] AS topic,
           ({_array(BENCH_SOURCES)})[(g % 8) + 1] AS source,
           CASE WHEN r < (CASE WHEN g % 20000 = 0 THEN 0.8
                               ELSE 0.2 + 0.04 * ((t_idx * 7) % 5)
                                    + 0.05 * sin(extract(epoch FROM ts) / 86400.0 * 2 * pi()) END)
                THEN 'negative'
                WHEN r < 0.75 THEN 'neutral' ELSE 'positive' END AS sentiment
    FROM base
), rows AS (
    SELECT *,
           'bench-' || lpad(g::text, 10, '0') AS id,
           CASE WHEN g % 3 = 0 AND k2 <> k1
                THEN jsonb_build_array(({_array(BENCH_TICKERS)})[k1 + 1], ({_array(BENCH_TICKERS)})[k2 + 1])
                ELSE jsonb_build_array(({_array(BENCH_TICKERS)})[k1 + 1]) END AS tickers
    FROM gen
), docs AS (
    INSERT INTO documents (id, source, kind, title, body, url, published_at, fetched_at, tickers, lang,
                           ingested_at)
    SELECT id, source,
           CASE WHEN source IN ('stocktwits', 'reddit-wsb') THEN 'comment' ELSE 'news' END,
           (tickers ->> 0) || ' ' || (CASE sentiment
                WHEN 'negative' THEN ({_array(_PHRASES["negative"])})[(g % 5) + 1]
                WHEN 'neutral' THEN ({_array(_PHRASES["neutral"])})[(g % 5) + 1]
                ELSE ({_array(_PHRASES["positive"])})[(g % 5) + 1] END)
             || ' ' || ({_array(_OBJECTS)})[(g % 8) + 1],
           '', 'https://news.example.com/' || source || '/' || id,
           ts, ts + interval '20 seconds', tickers, 'en', ts + interval '30 seconds'
    FROM rows
)
INSERT INTO scores (document_id, model_version, sentiment, sentiment_score, topic, topic_score,
                    probabilities, published_at, scored_at)
SELECT id, :version, sentiment, 0.5 + conf / 2, topic, 0.6 + conf / 3,
       jsonb_build_object('sentiment', jsonb_build_object(sentiment, round((0.5 + conf / 2)::numeric, 4))),
       ts, ts + interval '31 seconds'
FROM rows
"""

_COUNTS = """
    count(*) FILTER (WHERE s.sentiment = 'negative'),
    count(*) FILTER (WHERE s.sentiment = 'neutral'),
    count(*) FILTER (WHERE s.sentiment = 'positive')
"""
_ROLLUP_SQL = {
    "all": f"""
        INSERT INTO rollups (model_version, scope_kind, scope, minute, negative, neutral, positive)
        SELECT s.model_version, 'all', '*', date_trunc('minute', s.published_at), {_COUNTS}
        FROM scores s WHERE s.model_version = :version GROUP BY 1, 4 ORDER BY 4""",
    "topic": f"""
        INSERT INTO rollups (model_version, scope_kind, scope, minute, negative, neutral, positive)
        SELECT s.model_version, 'topic', s.topic, date_trunc('minute', s.published_at), {_COUNTS}
        FROM scores s WHERE s.model_version = :version AND s.topic IS NOT NULL GROUP BY 1, 3, 4 ORDER BY 4""",
    "source": f"""
        INSERT INTO rollups (model_version, scope_kind, scope, minute, negative, neutral, positive)
        SELECT s.model_version, 'source', d.source, date_trunc('minute', s.published_at), {_COUNTS}
        FROM scores s JOIN documents d ON d.id = s.document_id
        WHERE s.model_version = :version GROUP BY 1, 3, 4 ORDER BY 4""",
    "ticker": f"""
        INSERT INTO rollups (model_version, scope_kind, scope, minute, negative, neutral, positive)
        SELECT s.model_version, 'ticker', t.ticker, date_trunc('minute', s.published_at), {_COUNTS}
        FROM scores s JOIN documents d ON d.id = s.document_id
        CROSS JOIN LATERAL (SELECT DISTINCT jsonb_array_elements_text(d.tickers) AS ticker) t
        WHERE s.model_version = :version GROUP BY 1, 3, 4 ORDER BY 4""",
}
# The hourly rollups are the minute rollups summed by hour, as finsent.store keeps them.
_HOURLY_SQL = """
    INSERT INTO rollups_hourly (model_version, scope_kind, scope, hour, negative, neutral, positive)
    SELECT model_version, scope_kind, scope, date_trunc('hour', minute),
           sum(negative), sum(neutral), sum(positive)
    FROM rollups WHERE model_version = :version GROUP BY 1, 2, 3, 4 ORDER BY 4"""


def seed_bench(
    engine: Engine,
    *,
    rows: int,
    days: float = 365.0,
    end: datetime | None = None,
    version: str = BENCH_VERSION,
    progress: Callable[[str], None] = log.info,
) -> dict[str, float]:
    """Fill an empty, migrated PostgreSQL database with ``rows`` scored documents; returns timings (s)."""
    if engine.dialect.name != "postgresql":
        raise ValueError(
            "the bench seed runs inside PostgreSQL (generate_series); got " + engine.dialect.name
        )
    end = (end or datetime.now(timezone.utc)).astimezone(timezone.utc)
    timings: dict[str, float] = {}
    with engine.connect() as conn:
        if conn.execute(text("SELECT EXISTS (SELECT 1 FROM documents)")).scalar():
            raise ValueError("the database already holds documents; seed an empty one")
    t0 = time.perf_counter()
    for lo in range(1, rows + 1, _CHUNK):
        hi = min(lo + _CHUNK - 1, rows)
        with engine.begin() as conn:
            # A different seed per chunk (one seed would repeat the same timestamps in every chunk).
            conn.execute(text("SELECT setseed(:s)"), {"s": lo / (rows + 1.0)})
            conn.execute(
                text(_CHUNK_SQL),
                {
                    "lo": lo,
                    "hi": hi,
                    "rows": rows,
                    "end_ts": end,
                    "span_s": days * 86400.0,
                    "version": version,
                },
            )
        progress(f"documents+scores {hi:,}/{rows:,} ({time.perf_counter() - t0:.0f}s)")
    timings["documents_and_scores"] = time.perf_counter() - t0
    for kind, sql in [*_ROLLUP_SQL.items(), ("hourly", _HOURLY_SQL)]:
        t1 = time.perf_counter()
        with engine.begin() as conn:
            # date_trunc follows the session time zone; rollup minutes and hours are UTC ones.
            conn.execute(text("SET LOCAL timezone = 'UTC'"))
            conn.execute(text("SET LOCAL work_mem = '256MB'"))
            written = conn.execute(text(sql), {"version": version}).rowcount
        timings[f"rollups_{kind}"] = time.perf_counter() - t1
        progress(f"rollups {kind}: {written:,} rows ({timings[f'rollups_{kind}']:.0f}s)")
    t2 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE documents"))
        conn.execute(text("VACUUM ANALYZE scores"))
        conn.execute(text("VACUUM ANALYZE rollups"))
        conn.execute(text("VACUUM ANALYZE rollups_hourly"))
    timings["vacuum_analyze"] = time.perf_counter() - t2
    progress(f"vacuum analyze ({timings['vacuum_analyze']:.0f}s)")
    return timings


@dataclass(frozen=True)
class PageCase:
    """A page in a given state: widget values set through session state before it renders."""

    name: str
    page: str
    state: dict[str, Any] = field(default_factory=dict)


# The default view of every page, and the heaviest choice each page offers.
PAGE_CASES: tuple[PageCase, ...] = (
    PageCase("overview (24 h)", "views/overview.py"),
    PageCase("overview (last year)", "views/overview.py", {"overview_range": "Last year"}),
    PageCase("topics (1 h vs 24 h)", "views/topics.py"),
    PageCase(
        "tickers (7 d vs 28 d)",
        "views/topics.py",
        {"movers_kind": "ticker", "movers_window": WINDOWS[-1].label},
    ),
    PageCase("headlines (24 h)", "views/headlines.py"),
    PageCase(
        "headlines (7 d, no match)",
        "views/headlines.py",
        {"headlines_range": "Last 7 days", "headlines_search": "no headline says this"},
    ),
    PageCase(
        "headlines (7 d, topic)",
        "views/headlines.py",
        {"headlines_range": "Last 7 days", "headlines_topic": ["IPO"]},
    ),
    PageCase("alerts", "views/alerts.py"),
    PageCase("model", "views/model.py"),
)


@dataclass(frozen=True)
class PageTiming:
    """One page's render time with AppTest: the first (cold cache) and the best of the warm runs."""

    name: str
    cold_s: float
    warm_s: float
    exceptions: int


def time_pages(
    app_path: str, cases: Sequence[PageCase] = PAGE_CASES, *, asof: datetime, warm_runs: int = 3
) -> list[PageTiming]:
    """Render each case with AppTest on the configured database; 'cold' clears the data cache first.

    Python imports are warmed by one untimed run (a server pays them once, at its first view).
    """
    import streamlit as st
    from streamlit import config as st_config
    from streamlit.testing.v1 import AppTest

    # AppTest runs the script in this process with no server; say it is a loopback one, or the
    # access gate (rightly) treats the unset address as every interface.
    st_config.set_option("server.address", "127.0.0.1")
    out: list[PageTiming] = []
    for case in cases:
        at = AppTest.from_file(app_path, default_timeout=120)
        at.query_params["asof"] = asof.isoformat()
        at.run()  # AppTest switches pages only after a first run
        at.switch_page(case.page)
        for key, value in case.state.items():
            at.session_state[key] = value
        at.run()  # the page's modules imported once, as in a running server
        st.cache_data.clear()
        t0 = time.perf_counter()
        at.run()
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(warm_runs):
            t1 = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - t1)
        out.append(PageTiming(name=case.name, cold_s=cold, warm_s=min(warm), exceptions=len(at.exception)))
        log.info("page timed", extra={"case": case.name, "cold_s": cold, "warm_s": min(warm)})
    return out
