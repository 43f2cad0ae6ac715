"""The worker's batch logic without a broker: triage, scoring, and writes that survive a bad database."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from finsent import migrations
from finsent.db import make_engine, make_sessionmaker
from finsent.messages import NewsMessage
from finsent.model.classifier import load
from finsent.model.scoring import score_messages as score
from finsent.stream.pipeline import RawRecord, persist_with_retry, triage
from finsent.tables import Score
from tests.utils.database import ADMIN_URL

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def news(i: int) -> NewsMessage:
    return NewsMessage(source="wire", title=f"Shares of ACME slide {i}", published_at=T0, tickers=["ACME"])


def test_triage_keeps_order_and_position_of_bad_records() -> None:
    records = [
        RawRecord(b'{"source": "s", "title": "a", "published_at": "2026-01-01T00:00:00Z"}', "raw", 0, 10),
        RawRecord(b"nope", "raw", 1, 11),
        RawRecord(b'{"source": "s", "title": "b", "published_at": "2026-01-01T00:00:00Z"}', "raw", 0, 12),
    ]
    result = triage(records, max_bytes=1000, max_text_chars=100)
    assert [m.title for _, m in result.valid] == ["a", "b"]
    assert [(d.partition, d.offset, d.reason) for d in result.dead] == [(1, 11, "bad_json")]


def test_score_attaches_model_version_and_both_heads(tiny_model_path: Path) -> None:
    model = load(tiny_model_path)
    scored = score(model, [news(1), news(2)])
    assert [s.model_version for s in scored] == [model.version] * 2
    assert all(s.sentiment in ("negative", "neutral", "positive") and s.topic for s in scored)
    assert score(model, []) == []


def test_a_row_the_database_rejects_is_isolated_not_blocking(pg_url: str, tiny_model_path: Path) -> None:
    scored = score(load(tiny_model_path), [news(i) for i in range(9)])
    poisoned = scored[4].model_copy(update={"topic": "T" * 200})  # longer than the column allows
    batch = scored[:4] + [poisoned] + scored[5:]
    engine = make_engine(pg_url)
    result, rejected = persist_with_retry(make_sessionmaker(engine), batch, max_backoff_s=0.1)
    assert result.scores == 8
    assert [item.id for item, _ in rejected] == [poisoned.id]
    assert "DataError" in rejected[0][1]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Score.__table__)).scalar_one() == 8
    engine.dispose()


def test_writes_wait_for_a_database_that_is_down(tiny_model_path: Path) -> None:
    # The database does not exist until the third attempt: a real OperationalError each time before.
    name = "finsent_late_" + datetime.now().strftime("%H%M%S%f")
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    attempts: list[float] = []

    def sleep(delay: float) -> None:
        attempts.append(delay)
        if len(attempts) == 2:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            migrations.upgrade(url)

    engine = make_engine(url)
    try:
        scored = score(load(tiny_model_path), [news(1)])
        result, rejected = persist_with_retry(make_sessionmaker(engine), scored, max_backoff_s=1.0, sleep=sleep)
        assert (result.scores, rejected) == (1, [])
        assert attempts == [0.1, 0.2]  # exponential backoff
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_triage_isolates_whatever_one_record_does() -> None:
    deep = b'{"source": "s", "title": "t", "published_at": "2026-01-01T00:00:00Z", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    records = [
        RawRecord(deep, "raw", 0, 1),
        RawRecord(b'{"source": "s", "title": "t", "published_at": "9999-12-31T23:59:00"}', "raw", 0, 2),
        RawRecord(b'{"source": "s", "title": "t", "published_at": "2026-01-01T00:00:00Z", "n": ' + b"9" * 5000 + b"}", "raw", 0, 3),
        RawRecord(b"x" * 5_000_000, "raw", 0, 4),
        RawRecord(b'{"source": "s", "title": "ok", "published_at": "2026-01-01T00:00:00Z"}', "raw", 0, 5),
    ]
    result = triage(records, max_bytes=256_000, max_text_chars=100)
    assert [m.title for _, m in result.valid] == ["ok"]
    assert [(d.offset, d.reason) for d in result.dead] == [
        (1, "bad_json"), (2, "invalid_fields"), (3, "bad_json"), (4, "oversize"),
    ]  # fmt: skip
    assert all(len(d.model_dump_json()) < 1_000_000 for d in result.dead)


def test_values_the_driver_cannot_bind_are_isolated(pg_url: str, tiny_model_path: Path) -> None:
    # Validation cleans these; the write path must still never let one row stop the batch.
    scored = score(load(tiny_model_path), [news(i) for i in range(6)])
    nul = scored[1].model_copy(update={"title": "NUL \x00 inside"})
    surrogate = scored[3].model_copy(update={"body": "lone \ud800 surrogate"})
    batch = [scored[0], nul, scored[2], surrogate, scored[4], scored[5]]
    engine = make_engine(pg_url)
    result, rejected = persist_with_retry(make_sessionmaker(engine), batch, max_backoff_s=0.1)
    assert result.scores == 4
    assert sorted(item.id for item, _ in rejected) == sorted([nul.id, surrogate.id])
    engine.dispose()


def test_a_system_error_is_not_blamed_on_the_data(pg_url: str, tiny_model_path: Path) -> None:
    import pytest
    from sqlalchemy.exc import ProgrammingError

    scored = score(load(tiny_model_path), [news(i) for i in range(4)])
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE rollups_hourly"))
    with pytest.raises(ProgrammingError):
        persist_with_retry(make_sessionmaker(engine), scored, max_backoff_s=0.1)
    engine.dispose()


def test_a_stop_request_ends_the_retry_loop_during_an_outage(tiny_model_path: Path) -> None:
    import pytest

    from finsent.stream.pipeline import Stopping

    url = make_url(ADMIN_URL).set(database="finsent_never_created").render_as_string(hide_password=False)
    engine = make_engine(url)
    naps: list[float] = []
    try:
        with pytest.raises(Stopping):
            persist_with_retry(
                make_sessionmaker(engine), score(load(tiny_model_path), [news(1)]), max_backoff_s=1.0,
                sleep=naps.append, should_stop=lambda: len(naps) >= 3,
            )  # fmt: skip
        assert naps == [0.1, 0.2, 0.4]
    finally:
        engine.dispose()


def test_backoff_is_capped_so_writes_resume_soon_after_the_database_returns(tiny_model_path: Path) -> None:
    import pytest

    from finsent.stream.pipeline import Stopping

    url = make_url(ADMIN_URL).set(database="finsent_never_created").render_as_string(hide_password=False)
    engine = make_engine(url)
    naps: list[float] = []
    try:
        with pytest.raises(Stopping):
            persist_with_retry(
                make_sessionmaker(engine), score(load(tiny_model_path), [news(1)]), max_backoff_s=1.0,
                sleep=naps.append, should_stop=lambda: len(naps) >= 8,
            )  # fmt: skip
        assert max(naps) == 1.0 and naps[-3:] == [1.0, 1.0, 1.0]
    finally:
        engine.dispose()


def test_a_month_without_its_partition_is_the_systems_fault_not_the_rows() -> None:
    from sqlalchemy.exc import IntegrityError

    from finsent.stream.pipeline import is_row_error

    missing = IntegrityError("INSERT ...", {}, Exception('no partition of relation "scores" found for row'))
    assert not is_row_error(missing)  # the worker exits unacked; its restart creates the partition
    assert is_row_error(IntegrityError("INSERT ...", {}, Exception("duplicate key value")))
