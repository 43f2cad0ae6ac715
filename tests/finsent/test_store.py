"""The store writes idempotently and keeps minute and hourly rollups in step, on PostgreSQL and SQLite."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from finsent.db import make_engine, make_sessionmaker, session_scope
from finsent.messages import ScoredMessage
from finsent.store import hourly_deltas, rollup_deltas, scope_keys, write_scored
from finsent.tables import Document, HourlyRollup, Rollup, Score

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


def test_hourly_deltas_sum_minutes_into_their_hour() -> None:
    deltas = rollup_deltas([scored(1), scored(2, minute=20, sentiment="positive"), scored(3, minute=40)])
    hours = hourly_deltas(deltas)
    hour = T0.replace(minute=0, second=0)
    assert hours[("v1", "all", "*", hour)] == {"negative": 1, "positive": 1}
    assert hours[("v1", "all", "*", hour + timedelta(hours=1))] == {"negative": 1}
    assert len(hours) == 2 * len(scope_keys(source="wire", topic="Earnings", tickers=["ACME"]))


def _minutes_by_hour(factory) -> dict[tuple, tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    """The minute rollups summed per hour in Python: what rollups_hourly must hold."""
    sums: dict[tuple, list[int]] = {}
    with factory() as s:
        for r in s.execute(select(Rollup)).scalars():
            key = (r.model_version, r.scope_kind, r.scope, r.minute.replace(minute=0))
            total = sums.setdefault(key, [0, 0, 0])
            for i, n in enumerate((r.negative, r.neutral, r.positive)):
                total[i] += n
    return {k: tuple(v) for k, v in sums.items()}


def _hourly(factory) -> dict[tuple, tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    with factory() as s:
        return {
            (r.model_version, r.scope_kind, r.scope, r.hour): (r.negative, r.neutral, r.positive)
            for r in s.execute(select(HourlyRollup)).scalars()
        }


def _spread(n: int, *, seed: int, offset: int = 0) -> list[ScoredMessage]:
    """``n`` documents over about five hours, in two model versions, with mixed tickers and sentiments."""
    rng = random.Random(seed)
    return [
        scored(
            offset + i,
            sentiment=rng.choice(("negative", "neutral", "positive")),
            version=rng.choice(("v1", "v2")),
            minute=rng.randrange(-40, 260),
            tickers=rng.sample(("ACME", "XOM", "KO", "TSLA"), rng.randint(0, 2)),
        )
        for i in range(n)
    ]


def test_write_keeps_hourly_rollups_equal_to_the_sum_of_minutes(db_url: str) -> None:
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    first, second = _spread(120, seed=1), _spread(80, seed=2, offset=1000)
    with session_scope(factory) as s:
        write_scored(s, first)
    with session_scope(factory) as s:
        write_scored(s, second + first[:30])  # new documents mixed with a partial replay
    hourly = _hourly(factory)
    assert hourly == _minutes_by_hour(factory)
    assert len({key[3] for key in hourly}) >= 5  # several hours, two versions
    assert sum(v[0] + v[1] + v[2] for k, v in hourly.items() if k[1] == "all") == 200
    with session_scope(factory) as s:
        replay = write_scored(s, first + second)
    assert replay.scores == 0
    assert _hourly(factory) == hourly  # a replayed batch adds nothing
    engine.dispose()


def test_rebuild_recomputes_the_hours_it_touches(db_url: str) -> None:
    from finsent.store import rebuild_rollups

    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as s:
        write_scored(s, _spread(150, seed=3))
    minutes_before, hourly_before = _minutes_by_hour(factory), _hourly(factory)
    with session_scope(factory) as s:  # corrupt both tables, everywhere
        s.execute(Rollup.__table__.update().values(negative=Rollup.negative + 5))
        s.execute(HourlyRollup.__table__.update().values(positive=HourlyRollup.positive + 7))
    # A range that starts and ends inside hours: the partial hours are rebuilt from all their minutes.
    since, until = T0 + timedelta(minutes=13), T0 + timedelta(hours=2, minutes=31, seconds=20)
    with session_scope(factory) as s:
        rebuild_rollups(s, model_version="v1", since=since, until=until)
    hourly = _hourly(factory)
    first_hour = T0.replace(minute=0, second=0)  # 14:00; since is 14:43:12, until 17:01:32
    end_hour = first_hour + timedelta(hours=4)
    touched = {k for k in hourly if k[0] == "v1" and first_hour <= k[3] < end_hour}
    assert touched and all(hourly[k] == _minutes_by_hour(factory)[k] for k in touched)
    untouched = set(hourly) - touched
    assert all(hourly[k][2] == hourly_before[k][2] + 7 for k in untouched)  # outside: left alone
    with session_scope(factory) as s:  # the whole span, every version: back to the incremental result
        for version in ("v1", "v2"):
            rebuild_rollups(
                s, model_version=version, since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=6)
            )
    assert _minutes_by_hour(factory) == minutes_before
    assert _hourly(factory) == hourly_before
    engine.dispose()


def test_an_id_reused_for_other_content_is_a_conflict_not_a_silent_drop(db_url: str) -> None:
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    original = scored(1)
    rewritten = original.model_copy(update={"title": "A different headline under the same id"})
    with session_scope(factory) as s:
        assert write_scored(s, [original]).conflicts == ()
    with session_scope(factory) as s:
        replay = write_scored(s, [original, rewritten, scored(2)])
    assert (replay.documents, replay.scores) == (1, 1)
    assert [c.title for c in replay.conflicts] == [rewritten.title]
    with session_scope(factory) as s:  # both versions in one batch: the first wins, the second is reported
        fresh = write_scored(s, [scored(3), scored(3).model_copy(update={"body": "changed"})])
    assert (fresh.scores, len(fresh.conflicts)) == (1, 1)
    engine.dispose()


def test_a_batch_is_a_few_statements_never_one_per_row(db_url: str) -> None:
    """The write's cost is per statement on the worker's two cores: psycopg2's executemany is a round trip per row."""
    from sqlalchemy import event

    from finsent.stories import StoryOptions

    engine = make_engine(db_url)
    sent: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        # EXECUTEMANY is the driver's row-by-row path; INSERTMANYVALUES pages rows into one statement.
        sent.append(context.execute_style.name)

    # 200 documents over 200 minutes and four tickers: hundreds of rollup keys and 3,200 story bands.
    batch = [scored(i, minute=i, tickers=(f"T{i % 4}",)) for i in range(200)]
    with session_scope(make_sessionmaker(engine)) as s:
        result = write_scored(s, batch, stories=StoryOptions())
    engine.dispose()
    assert (result.documents, result.scores) == (200, 200)
    assert "EXECUTEMANY" not in sent, "a statement went row by row"
    assert len(sent) <= 20, f"{len(sent)} statements for one batch"
