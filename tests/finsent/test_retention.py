"""Retention and monthly partitions: the migration converts a populated PostgreSQL database and keeps writes
idempotent; expired months are dropped whole, the rest deleted in small batches (SQLite too), never blocking writers."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, inspect, select, text

from finsent import migrations
from finsent.db import make_engine, make_sessionmaker, session_scope
from finsent.messages import ScoredMessage
from finsent.retention import ensure_partitions, run_retention
from finsent.settings import RetentionSettings
from finsent.store import write_scored
from finsent.tables import Alert, Document, HourlyRollup, Rollup, Score

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
MONTHS = [datetime(2026, m, 10, 9, 30, tzinfo=timezone.utc) for m in (6, 7, 8, 9, 10, 11)]


def _batch(prefix: str, at: datetime, n: int = 10, *, version: str = "v1") -> list[ScoredMessage]:
    return [
        ScoredMessage(
            id=f"{prefix}-{i}", source="wire", title=f"{prefix} headline {i}", published_at=at + timedelta(minutes=i),
            tickers=["ACME"], model_version=version, sentiment=("negative", "neutral", "positive")[i % 3],
            sentiment_score=0.9, topic="Earnings",
        )  # fmt: skip
        for i in range(n)
    ]


def _write(factory, items: list[ScoredMessage]) -> None:  # type: ignore[no-untyped-def]
    with session_scope(factory) as s:
        write_scored(s, items)


def _counts(engine) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t.__table__)).scalar_one()
            for t in (Document, Score, Rollup, HourlyRollup)
        )


def _partitions(engine, table: str) -> set[str]:  # type: ignore[no-untyped-def]
    sql = text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t"
    )
    with engine.connect() as conn:
        return set(conn.execute(sql, {"t": table}).scalars())


def test_the_migration_partitions_a_populated_database_and_writes_stay_idempotent(pg_url: str) -> None:
    migrations.downgrade(pg_url, "0003")
    engine = make_engine(pg_url)
    factory = make_sessionmaker(engine)
    for i, at in enumerate(MONTHS):
        _write(factory, _batch(f"m{i}", at))
    _write(factory, _batch("m5", MONTHS[5], version="v2"))  # a second model version's scores
    before = _counts(engine)
    with engine.connect() as conn:
        rollups_before = conn.execute(text("SELECT sum(negative + neutral + positive) FROM rollups")).scalar_one()

    migrations.upgrade(pg_url)
    assert _counts(engine) == before
    assert {"scores_old", "scores_p202606", "scores_p202611"} <= _partitions(engine, "scores")
    assert {"rollups_p202606", "rollups_hourly_p202610"} <= _partitions(engine, "rollups") | _partitions(
        engine, "rollups_hourly"
    )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scores_p202608")).scalar_one() == 10
        key = inspect(conn).get_pk_constraint("scores")["constrained_columns"]
        assert key == ["document_id", "model_version", "published_at"]

    # Replays change nothing: the same batch, and the same ids claiming another publication time.
    _write(factory, _batch("m2", MONTHS[2]))
    _write(factory, _batch("m2", MONTHS[2] + timedelta(days=40)))
    assert _counts(engine) == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT sum(negative + neutral + positive) FROM rollups")).scalar_one() == rollups_before
    _write(factory, _batch("new", NOW))  # new rows land in their month
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scores_p202611")).scalar_one() == 30

    migrations.downgrade(pg_url, "0003")
    assert _partitions(engine, "scores") == set() and _counts(engine)[1] == before[1] + 10
    migrations.upgrade(pg_url)
    engine.dispose()


def test_retention_drops_whole_months_and_deletes_the_rest_in_batches(db_url: str) -> None:
    # Months of history before the partitioning migration, so it gives each month its partition.
    migrations.downgrade(db_url, "0003")
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    for i, at in enumerate(MONTHS):
        _write(factory, _batch(f"m{i}", at))
    migrations.upgrade(db_url)
    with session_scope(factory) as s:
        for i, at in enumerate((MONTHS[0], MONTHS[5])):
            s.add(
                Alert(fingerprint=f"fp{i}", rule="r", scope_kind="ticker", scope="ACME", severity="warning", labels={},
                      state="resolved", model_version="v1", started_at=at, updated_at=at, resolved_at=at, value={}, peak={})
            )  # fmt: skip
    settings = RetentionSettings(
        documents_days=60, minute_rollups_days=30, hourly_rollups_days=100, alerts_days=90, batch_size=7
    )
    report = run_retention(engine, settings, now=NOW)

    cutoff = NOW - timedelta(days=60)  # 2026-09-21: June-August go whole, September's 10th goes by rows
    with engine.connect() as conn:
        published = conn.execute(select(Document.published_at)).scalars().all()
        assert len(published) == 20 and min(published) >= cutoff
        assert conn.execute(select(func.count()).select_from(Score.__table__)).scalar_one() == 20
        assert conn.execute(select(func.min(Rollup.minute))).scalar_one() >= NOW - timedelta(days=30)
        assert conn.execute(select(func.min(HourlyRollup.hour))).scalar_one() >= NOW - timedelta(days=100)
        assert conn.execute(select(func.count()).select_from(Alert.__table__)).scalar_one() == 1
    assert report.deleted["alerts"] == 1
    if engine.dialect.name == "postgresql":
        assert {"scores_p202606", "scores_p202607", "scores_p202608"} <= set(report.dropped)
        assert "scores_p202609" in _partitions(engine, "scores")  # the cutoff's month stays, minus its old rows
        assert {"rollups_p202606", "rollups_p202609", "rollups_hourly_p202606"} <= set(report.dropped)
    # Documents are not partitioned (their id must stay unique across months): batches of 7; on
    # PostgreSQL their older scores had gone with the dropped months already.
    assert report.deleted["documents"] == 40
    assert run_retention(engine, settings, now=NOW).deleted["documents"] == 0
    engine.dispose()


def test_partitions_are_created_ahead_and_a_purge_does_not_block_writers(pg_url: str) -> None:
    migrations.downgrade(pg_url, "0003")
    engine = make_engine(pg_url)
    factory = make_sessionmaker(engine)
    _write(factory, _batch("long-ago", datetime(2025, 1, 15, tzinfo=timezone.utc)))
    migrations.upgrade(pg_url)  # partitions from January 2025 on
    later = datetime.now(timezone.utc) + timedelta(days=200)
    created = ensure_partitions(engine, now=later, ahead=1)
    assert f"scores_p{later:%Y%m}" in created and f"rollups_p{later:%Y%m}" in created
    assert ensure_partitions(engine, now=later, ahead=1) == []  # nothing missing any more

    # A worker's batch holds a transaction on scores while the purge detaches January 2025; another
    # writer keeps committing meanwhile: DETACH ... CONCURRENTLY waits for them, they never wait for it.
    writer = engine.connect()
    open_txn = writer.begin()
    writer.execute(text("SELECT count(*) FROM scores"))
    done = threading.Event()
    result: dict = {}
    now = datetime.now(timezone.utc)
    keep = (now - datetime(2025, 2, 1, tzinfo=timezone.utc)).days  # January 2025 is wholly older than this

    def purge() -> None:
        result["report"] = run_retention(engine, RetentionSettings(documents_days=keep), now=now)
        done.set()

    thread = threading.Thread(target=purge, daemon=True)
    thread.start()
    time.sleep(1.0)
    started = time.monotonic()
    _write(factory, _batch("during-purge", now - timedelta(minutes=5)))
    assert time.monotonic() - started < 20  # the other writer was not held up by the detach
    assert not done.is_set()  # the detach waits for the open transaction
    open_txn.commit()
    writer.close()
    assert done.wait(60)
    assert "scores_p202501" in result["report"].dropped and "scores_p202502" not in result["report"].dropped
    engine.dispose()
