"""``finsent alerts bench``: time evaluation cycles over millions of scored rows in a fresh PostgreSQL database.

Seeding happens inside the server (``INSERT ... SELECT generate_series``), and the rollups are
built with one ``INSERT ... SELECT ... GROUP BY``, so ten million rows take minutes, not hours.
The data: ``rows`` documents spread evenly over ``days``, tickers drawn from a skewed (Zipf-
like) distribution so a few are busy and most are quiet, 30/45/25% negative/neutral/positive,
and a burst of negative news about one ticker in the last 20 minutes so the timed cycles
also fire an alert and write its state. Then the default rules are evaluated once cold (empty
hour cache) and ``cycles`` times warm, one simulated minute apart, exactly as
``finsent alerts run`` does (active-version lookup, rules, state, dispatcher plan).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

from finsent.bench.common import temporary_database

__all__ = ["BenchSpec", "build_rollups_sql", "run_bench", "seed"]

END = datetime(2026, 3, 2, tzinfo=timezone.utc)
BURST_TICKER = "ZBURST"
BURST_MINUTES = 20  # the last 20 minutes of the history; the timed cycles cover the last 30


@dataclass(frozen=True)
class BenchSpec:
    """The size and shape of the seeded history."""

    rows: int = 10_000_000
    days: float = 60.0
    tickers: int = 500
    topics: int = 20
    sources: int = 12
    cycles: int = 30
    model_version: str = "bench-v1"


_SEED_DOCUMENTS = """
INSERT INTO documents (id, source, kind, title, body, url, published_at, fetched_at, tickers, lang, ingested_at)
SELECT 'b' || g.i,
       'source-' || lpad((g.i % :sources)::text, 2, '0'),
       'news',
       CASE WHEN g.burst THEN 'Regulator opens probe into Zburst accounts (' || g.i || ')'
            ELSE 'Market headline number ' || g.i END,
       '',
       'https://news.example.test/item/' || g.i,
       g.published_at,
       g.published_at,
       CASE WHEN g.burst THEN jsonb_build_array(:burst)
            WHEN random() < 0.7 THEN jsonb_build_array(g.t1)
            ELSE jsonb_build_array(g.t1, 'T' || lpad(floor(:tickers * power(random(), 2.5))::int::text, 3, '0')) END,
       'en',
       g.published_at
FROM (
    SELECT i,
           CAST(:end AS timestamptz) - make_interval(secs => :span_s * (1 - i::float8 / :rows)) AS published_at,
           i > :rows - :burst_window_rows AND i % :burst_every = 0 AS burst,
           'T' || lpad(floor(:tickers * power(random(), 2.5))::int::text, 3, '0') AS t1
    FROM generate_series(1, :rows) AS g(i)
) AS g
"""

_SEED_SCORES = """
INSERT INTO scores (document_id, model_version, sentiment, sentiment_score, topic, topic_score, probabilities,
                    published_at, scored_at)
SELECT d.id,
       :version,
       CASE WHEN d.tickers ? :burst THEN 'negative'
            WHEN r.u < 0.30 THEN 'negative' WHEN r.u < 0.75 THEN 'neutral' ELSE 'positive' END,
       0.5 + r.u / 2,
       'topic-' || lpad(floor(:topics * power(random(), 1.5))::int::text, 2, '0'),
       0.8,
       '{}'::jsonb,
       d.published_at,
       d.published_at + interval '2 seconds'
FROM documents d CROSS JOIN LATERAL (SELECT random() + 0 * length(d.id) AS u) AS r
"""


def build_rollups_sql() -> str:
    """One INSERT ... SELECT ... GROUP BY that builds every rollup row from scores and documents."""
    return """
INSERT INTO rollups (model_version, scope_kind, scope, minute, negative, neutral, positive)
SELECT s.model_version, k.kind, k.scope, date_trunc('minute', s.published_at),
       count(*) FILTER (WHERE s.sentiment = 'negative'),
       count(*) FILTER (WHERE s.sentiment = 'neutral'),
       count(*) FILTER (WHERE s.sentiment = 'positive')
FROM scores s
JOIN documents d ON d.id = s.document_id
CROSS JOIN LATERAL (
    SELECT 'all' AS kind, '*' AS scope
    UNION ALL SELECT 'source', d.source
    UNION ALL SELECT 'topic', s.topic WHERE s.topic IS NOT NULL
    UNION ALL SELECT DISTINCT 'ticker', t FROM jsonb_array_elements_text(d.tickers) AS t
) AS k
GROUP BY 1, 2, 3, 4
ORDER BY 4  -- the physical order live writes produce: a minute's rows are written together
"""


def seed(engine: Engine, spec: BenchSpec, *, end: datetime = END) -> dict[str, float]:
    """Fill documents, scores and rollups server-side, the history ending at ``end``; returns seconds per step."""
    timings: dict[str, float] = {}
    span_s = spec.days * 86400
    burst_window_rows = int(spec.rows * BURST_MINUTES * 60 / span_s)
    params = {
        "rows": spec.rows,
        "sources": spec.sources,
        "tickers": spec.tickers,
        "topics": spec.topics,
        "burst": BURST_TICKER,
        "end": end,
        "span_s": span_s,
        "burst_window_rows": burst_window_rows,
        # About 40 or more burst documents however small the run, at most one in six.
        "burst_every": max(1, min(6, burst_window_rows // 40)),
        "version": spec.model_version,
    }
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(text("SET LOCAL jit = off"))  # compiling these one-off statements costs more than it saves
        conn.execute(text("SELECT setseed(0.42)"))
        for name, sql in (("documents_s", _SEED_DOCUMENTS), ("scores_s", _SEED_SCORES), ("rollups_s", build_rollups_sql())):
            started = time.perf_counter()
            conn.execute(text(sql), params)
            timings[name] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE documents, scores, rollups"))
    timings["analyze_s"] = round(time.perf_counter() - started, 1)
    return timings


def _time_cycles(url: str, spec: BenchSpec) -> dict[str, Any]:
    from finsent.alerts.counts import RollupReader
    from finsent.alerts.rules import load_config
    from finsent.alerts.wiring import build_cycle
    from finsent.db import make_engine, make_sessionmaker
    from finsent.settings import AlertSettings
    from finsent.tables import Rollup

    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    reader = RollupReader()
    config = load_config(None)
    # No receivers configured: the dispatcher plans groups but sends nothing.
    cycle = build_cycle(AlertSettings(), factory, config=config, notifiers={}, reader=reader)
    # Cold before the burst starts; the warm cycles are the last ``cycles`` minutes, one apart.
    cold = cycle.evaluate(END - timedelta(minutes=max(spec.cycles, BURST_MINUTES + 10)))
    gc.freeze()  # as `finsent alerts run` does after its first cycle
    warm = [cycle.evaluate(END - timedelta(minutes=spec.cycles - i - 1)) for i in range(spec.cycles)]
    ms = sorted(r.elapsed_ms for r in warm)
    with factory() as session:
        rollup_rows = session.scalar(select(func.count()).select_from(Rollup))
    engine.dispose()
    return {
        "rollup_rows": rollup_rows,
        "rules": len(config.rules),
        "scopes_tested_per_cycle": warm[-1].observations,
        "cold_cycle_ms": round(cold.elapsed_ms, 1),
        "cycles": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))], 1),
        "max_ms": round(ms[-1], 1),
        "fired": sum(t.kind == "fired" for r in [cold, *warm] for t in r.transitions),
        "firing_at_end": warm[-1].firing,
        "hours_summed": reader.stats["hours_summed"],
        "hours_reused": reader.stats["hours_reused"],
    }


def run_bench(
    server_url: str, spec: BenchSpec, *, keep: bool = False, progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Create a database, seed it, time the cycles, drop it (unless ``keep``); returns the figures."""
    from finsent.db import make_engine
    from finsent.settings import DatabaseSettings

    server_url = DatabaseSettings(url=server_url).url.get_secret_value()  # postgresql:// -> psycopg2
    if make_url(server_url).get_backend_name() != "postgresql":
        raise ValueError("the alerts benchmark needs PostgreSQL (give --database-url postgresql://...)")
    with temporary_database(server_url, prefix="finsent_alerts_bench", keep=keep) as url:
        progress(f"bench database {make_url(url).database}: seeding {spec.rows:,} scored rows")
        engine = make_engine(url)
        seeded = seed(engine, spec)
        engine.dispose()
        progress(f"seeded: {seeded}")
        figures = _time_cycles(url, spec)
    report = {"spec": asdict(spec), "seed": seeded, **figures, "target_ms": 200}
    if keep:
        report["database"] = make_url(url).database
    return report
