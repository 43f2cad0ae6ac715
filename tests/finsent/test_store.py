"""The store writes idempotently and keeps rollups in step, on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from finsent.db import make_engine, make_sessionmaker, session_scope
from finsent.messages import ScoredMessage
from finsent.store import rollup_deltas, scope_keys, write_scored
from finsent.tables import Document, Rollup, Score

T0 = datetime(2026, 3, 2, 14, 30, 12, tzinfo=timezone.utc)


def scored(i: int, *, sentiment: str = "negative", version: str = "v1", minute: int = 0, tickers=("ACME",)) -> ScoredMessage:
    return ScoredMessage(
        id=f"doc-{i}",
        source="wire",
        title=f"headline {i}",
        published_at=T0 + timedelta(minutes=minute),
        tickers=list(tickers),
        model_version=version,
        sentiment=sentiment,
        sentiment_score=0.9,
        topic="Earnings",
        topic_score=0.8,
        probabilities={"sentiment": {"negative": 0.9, "neutral": 0.05, "positive": 0.05}},
    )


def test_scope_keys_cover_all_topic_source_and_each_ticker_once() -> None:
    keys = scope_keys(source="wire", topic="Macro", tickers=["A", "B", "A"])
    assert keys == [("all", "*"), ("source", "wire"), ("topic", "Macro"), ("ticker", "A"), ("ticker", "B")]


def test_rollup_deltas_bucket_by_event_minute() -> None:
    deltas = rollup_deltas([scored(1), scored(2, sentiment="positive"), scored(3, minute=1)])
    minute0 = T0.replace(second=0)
    assert deltas[("v1", "all", "*", minute0)] == {"negative": 1, "positive": 1}
    assert deltas[("v1", "ticker", "ACME", minute0 + timedelta(minutes=1))] == {"negative": 1}


def test_replayed_batch_changes_nothing(db_url: str) -> None:
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    batch = [scored(i, sentiment=("negative", "neutral", "positive")[i % 3]) for i in range(30)]
    with session_scope(factory) as s:
        first = write_scored(s, batch)
    with session_scope(factory) as s:
        second = write_scored(s, batch + batch[:5])  # replay plus in-batch duplicates
    assert (first.documents, first.scores) == (30, 30)
    assert (second.documents, second.scores) == (0, 0)
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 30
        assert s.scalar(select(func.count()).select_from(Score)) == 30
        row = s.execute(
            select(Rollup.negative, Rollup.neutral, Rollup.positive).where(Rollup.scope_kind == "all")
        ).one()
        assert tuple(row) == (10, 10, 10)
        stored = s.get(Document, "doc-1")
        assert stored is not None and stored.published_at == T0 and stored.published_at.tzinfo is not None
    engine.dispose()


def test_second_model_version_is_kept_beside_the_first(db_url: str) -> None:
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as s:
        write_scored(s, [scored(1, version="v1")])
    with session_scope(factory) as s:
        result = write_scored(s, [scored(1, version="v2", sentiment="positive")])
    assert (result.documents, result.scores) == (0, 1)
    with factory() as s:
        versions = dict(s.execute(select(Score.model_version, Score.sentiment)).all())
        assert versions == {"v1": "negative", "v2": "positive"}
        per_version = dict(
            s.execute(select(Rollup.model_version, Rollup.positive).where(Rollup.scope_kind == "all")).all()
        )
        assert per_version == {"v1": 0, "v2": 1}
    engine.dispose()


def test_rebuild_rollups_matches_incremental(db_url: str) -> None:
    from finsent.store import rebuild_rollups

    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as s:
        write_scored(s, [scored(i, sentiment=("negative", "positive")[i % 2], minute=i % 4) for i in range(20)])

    def snapshot() -> set:
        with factory() as s:
            return set(s.execute(select(Rollup.scope_kind, Rollup.scope, Rollup.minute, Rollup.negative, Rollup.positive)).all())

    before = snapshot()
    with session_scope(factory) as s:
        s.execute(Rollup.__table__.update().values(negative=999))  # corrupt
    with session_scope(factory) as s:
        rebuild_rollups(s, model_version="v1", since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1))
    assert snapshot() == before
    engine.dispose()
