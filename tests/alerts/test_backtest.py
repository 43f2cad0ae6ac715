"""The backtest replays stored history through the live rules and writes nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from finsent.alerts.backtest import backtest
from finsent.alerts.rules import load_config
from finsent.tables import Alert
from tests.utils.alert_history import T0, flat_stream, negative_burst, seed_history


def test_backtest_finds_the_burst_and_nothing_else(db_factory: sessionmaker[Session]) -> None:
    history = flat_stream(T0 - timedelta(hours=12), T0 + timedelta(hours=2), per_minute=6, seed=4)
    seed_history(db_factory, history + negative_burst(T0, ticker="ACME", count=24, minutes=10))
    with db_factory() as s:
        found = backtest(
            s, load_config(None), model_version="v1", since=T0 - timedelta(hours=2), until=T0 + timedelta(hours=2),
            step=timedelta(minutes=5),
        )
        assert s.scalar(select(func.count()).select_from(Alert)) == 0  # read-only
    assert [(a.rule, a.scope) for a in found] == [("ticker-negative-spike", "ACME")]
    alert = found[0]
    assert T0 + timedelta(minutes=5) <= alert.fired_at <= T0 + timedelta(minutes=15)
    assert alert.resolved_at is not None and alert.resolved_at <= T0 + timedelta(minutes=35)
    assert alert.peak.z >= alert.first.z > 4 and alert.peak.rate > 0.6


def test_backtest_uses_only_data_published_before_each_step(sqlite_factory: sessionmaker[Session]) -> None:
    seed_history(sqlite_factory, flat_stream(T0 - timedelta(hours=6), T0, per_minute=6, seed=9)
                 + negative_burst(T0 + timedelta(minutes=30), ticker="ACME"))
    with sqlite_factory() as s:
        before = backtest(s, load_config(None), model_version="v1", since=T0 - timedelta(hours=1),
                          until=T0 + timedelta(minutes=30), step=timedelta(minutes=1))
        after = backtest(s, load_config(None), model_version="v1", since=T0 - timedelta(hours=1),
                         until=T0 + timedelta(minutes=45), step=timedelta(minutes=1))
    assert before == []  # the burst published at 09:30 is invisible to every step before it
    assert [a.scope for a in after] == ["ACME"] and after[0].fired_at > T0 + timedelta(minutes=30)
