"""The bench seed writes minute and hourly rollups that match what the store computes from the same scores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from finsent.bench.dashboard import BENCH_VERSION, seed_bench
from finsent.cli import app
from finsent.db import make_engine, make_sessionmaker, session_scope
from finsent.settings import get_settings
from finsent.store import rebuild_rollups
from finsent.tables import Document, HourlyRollup, Rollup, Score

END = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)


def _rollups(engine, table=Rollup.__table__) -> list[tuple]:  # type: ignore[no-untyped-def]
    """Every row of a rollup table, in primary-key order."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns))]


def _summed_by_hour(minutes: list[tuple]) -> list[tuple]:
    sums: dict[tuple, list[int]] = {}
    for version, kind, scope, minute, *counts in minutes:
        # negative, neutral, positive and duplicates (migration desk_0005)
        total = sums.setdefault((version, kind, scope, minute.replace(minute=0)), [0] * len(counts))
        for i, n in enumerate(counts):
            total[i] += n
    return sorted((*key, *total) for key, total in sums.items())


def test_seeded_rollups_equal_a_rebuild_from_the_scores(pg_url: str) -> None:
    engine = make_engine(pg_url)
    seed_bench(engine, rows=3000, days=2, end=END, progress=lambda _: None)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Document)).scalar() == 3000
        assert conn.execute(select(func.count()).select_from(Score)).scalar() == 3000
        newest = conn.execute(select(func.max(Score.published_at))).scalar()
        assert END - timedelta(minutes=2) <= newest <= END
    seeded = _rollups(engine)
    hourly = _rollups(engine, HourlyRollup.__table__)
    assert hourly == _summed_by_hour(seeded)
    assert len({row[3] for row in hourly}) >= 48  # two days of hours
    with session_scope(make_sessionmaker(engine)) as session:
        rebuild_rollups(
            session,
            model_version=BENCH_VERSION,
            since=END - timedelta(days=3),
            until=END + timedelta(minutes=1),
        )
    assert _rollups(engine) == seeded
    assert _rollups(engine, HourlyRollup.__table__) == hourly
    with pytest.raises(ValueError, match="already holds documents"):
        seed_bench(engine, rows=10, end=END, progress=lambda _: None)
    engine.dispose()


def test_seed_bench_refuses_sqlite(sqlite_url: str) -> None:
    get_settings.cache_clear()
    result = CliRunner().invoke(
        app, ["dashboard", "seed-bench", "--rows", "10"], env={"FINSENT_DATABASE_URL": sqlite_url}
    )
    get_settings.cache_clear()
    assert result.exit_code == 2 and "PostgreSQL" in result.output
