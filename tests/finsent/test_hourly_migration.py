"""Migration 0003 backfills rollups_hourly from the minute rollups already there, on both backends."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, insert, inspect, select

from finsent import migrations
from finsent.db import make_engine, make_sessionmaker, session_scope
from finsent.messages import ScoredMessage
from finsent.store import write_scored
from finsent.tables import HourlyRollup, Rollup

T0 = datetime(2026, 3, 2, 22, 0, tzinfo=timezone.utc)


def _minute_rows(seed: int) -> list[dict]:
    """Minute rollups over a day boundary, for two versions and every scope kind."""
    rng = random.Random(seed)
    scopes = [("all", "*"), ("topic", "Macro"), ("topic", "Earnings"), ("ticker", "XOM"), ("source", "wire")]
    rows: dict[tuple, dict] = {}
    for _ in range(400):
        key = (rng.choice(("v1", "v2")), *rng.choice(scopes), T0 + timedelta(minutes=rng.randrange(-90, 200)))
        rows[key] = {
            "model_version": key[0],
            "scope_kind": key[1],
            "scope": key[2],
            "minute": key[3],
            "negative": rng.randrange(5),
            "neutral": rng.randrange(5),
            "positive": rng.randrange(5),
        }
    return list(rows.values())


def test_upgrade_backfills_hours_from_existing_minutes(db_url: str) -> None:
    migrations.downgrade(db_url, "0002")
    engine = make_engine(db_url)
    assert "rollups_hourly" not in inspect(engine).get_table_names()
    rows = _minute_rows(5)
    with engine.begin() as conn:  # written as the ORM writes them (UTCDateTime)
        conn.execute(insert(Rollup.__table__), rows)
    migrations.upgrade(db_url)

    expected: dict[tuple, list[int]] = {}
    for r in rows:
        key = (r["model_version"], r["scope_kind"], r["scope"], r["minute"].replace(minute=0))
        total = expected.setdefault(key, [0, 0, 0])
        for i, s in enumerate(("negative", "neutral", "positive")):
            total[i] += r[s]
    factory = make_sessionmaker(engine)
    with factory() as s:
        got = {
            (h.model_version, h.scope_kind, h.scope, h.hour): [h.negative, h.neutral, h.positive]
            for h in s.execute(select(HourlyRollup)).scalars()
        }
    assert got == expected
    assert len({k[3] for k in got}) == 6  # 20:00 to 01:00, across midnight

    # The backfilled hours are stored exactly as the ORM stores them (SQLite compares text):
    # a live write into one of them adds to that row instead of creating a second one.
    hour = T0 + timedelta(hours=1)
    before = got[("v1", "all", "*", hour)]
    with session_scope(factory) as s:
        write_scored(
            s,
            [
                ScoredMessage(
                    id="late-1",
                    source="wire",
                    title="a late headline",
                    published_at=hour + timedelta(minutes=17, seconds=3),
                    model_version="v1",
                    sentiment="positive",
                    sentiment_score=0.9,
                )
            ],
        )
    with factory() as s:
        rows_in_hour = s.execute(
            select(HourlyRollup.positive).where(
                HourlyRollup.model_version == "v1",
                HourlyRollup.scope_kind == "all",
                HourlyRollup.hour == hour,
            )
        ).all()
        assert [r.positive for r in rows_in_hour] == [before[2] + 1]
        # Range comparisons see the backfilled hours too (the write added its source's row if missing).
        later = s.scalar(select(func.count()).select_from(HourlyRollup).where(HourlyRollup.hour >= hour))
        new_row = ("v1", "source", "wire", hour) not in expected
        assert later == sum(1 for k in expected if k[3] >= hour) + new_row
    engine.dispose()


def test_downgrade_drops_only_the_hourly_table(db_url: str) -> None:
    migrations.downgrade(db_url, "0002")
    engine = make_engine(db_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert "rollups_hourly" not in tables and {"rollups", "alerts"} <= tables
    migrations.upgrade(db_url)
    from alembic.script import ScriptDirectory

    assert migrations.current(db_url) == ScriptDirectory.from_config(migrations.alembic_config(db_url)).get_current_head()
