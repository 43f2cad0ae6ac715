"""The benchmark, tiny: server-side seeding builds the same rollups the write path would, and cycles are timed."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from finsent.bench.alerts import BenchSpec, run_bench, seed
from finsent.db import make_engine
from finsent.store import scope_keys
from finsent.tables import Document, Rollup, Score
from tests.utils.database import ADMIN_URL


def test_seeded_rollups_equal_what_the_write_path_would_build(pg_url: str) -> None:
    engine = make_engine(pg_url)
    timings = seed(engine, BenchSpec(rows=5_000, days=1, tickers=50, topics=8, sources=4))
    assert set(timings) == {"documents_s", "scores_s", "rollups_s", "analyze_s"}
    with engine.connect() as conn:
        expected: Counter[tuple[str, str, str, str]] = Counter()
        rows = conn.execute(
            select(Document.source, Document.tickers, Score.topic, Score.sentiment, Score.published_at)
            .join(Score, Score.document_id == Document.id)
        )
        for source, tickers, topic, sentiment, published_at in rows:
            minute = published_at.replace(second=0, microsecond=0).isoformat()
            for kind, scope in scope_keys(source=source, topic=topic, tickers=tickers):
                expected[(kind, scope, minute, sentiment)] += 1
        actual: Counter[tuple[str, str, str, str]] = Counter()
        for r in conn.execute(select(Rollup)):
            for sentiment in ("negative", "neutral", "positive"):
                if getattr(r, sentiment):
                    actual[(r.scope_kind, r.scope, r.minute.isoformat(), sentiment)] = getattr(r, sentiment)
    engine.dispose()
    assert actual == expected
    assert sum(v for (kind, *_), v in actual.items() if kind == "all") == 5_000


def test_tiny_bench_reports_cycle_times_and_fires_the_seeded_burst() -> None:
    report = run_bench(ADMIN_URL, BenchSpec(rows=10_000, days=2, tickers=50, topics=8, sources=4, cycles=5))
    assert report["spec"]["rows"] == 10_000 and report["rollup_rows"] > 10_000
    assert 0 < report["median_ms"] <= report["p95_ms"] <= report["max_ms"]
    assert report["cycles"] == 5 and report["fired"] >= 1
    assert report["hours_reused"] > report["hours_summed"] > 0  # the hourly cache works
