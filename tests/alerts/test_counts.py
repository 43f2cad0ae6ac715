"""Rollup sums as alert evaluation reads them: exact against the raw messages, with late arrivals and re-scores.

Both backends. The oracle counts the messages themselves (independently of the rollup write
path), so these tests also check that rollups stay right when data arrives late or a second
model version re-scores the same documents.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from finsent.alerts.counts import HourRange, RollupReader, Span
from finsent.alerts.detect import Counts
from finsent.db import session_scope
from finsent.messages import ScoredMessage
from finsent.store import scope_keys, write_scored
from finsent.timegrid import hour_index
from tests.utils.alert_history import T0, flat_stream, scored, seed_history

ScopeKey = tuple[str, str]


def oracle(messages: Iterable[ScoredMessage], version: str, start: datetime, end: datetime) -> dict[ScopeKey, Counts]:
    """Counts per scope straight from the messages (first score per document and version wins)."""
    seen: dict[tuple[str, str], ScoredMessage] = {}
    for m in messages:
        seen.setdefault((m.id, m.model_version), m)
    tally: dict[ScopeKey, Counter[str]] = {}
    for m in seen.values():
        if m.model_version == version and start <= m.published_at < end:
            for key in scope_keys(source=m.source, topic=m.topic, tickers=m.tickers):
                tally.setdefault(key, Counter())[m.sentiment] += 1
    return {k: Counts(c["negative"], c["neutral"], c["positive"]) for k, c in tally.items()}


def _window(reader: RollupReader, session: Session, version: str, span: Span) -> dict[ScopeKey, Counts]:
    kinds = ("all", "topic", "ticker", "source")
    return reader.window_sums(session, model_version=version, spans=[span], kinds=kinds)[0]


def _baseline(reader: RollupReader, session: Session, version: str, hours: HourRange, scopes) -> dict:  # type: ignore[no-untyped-def]
    return reader.baseline_sums(session, model_version=version, ranges=[hours], scopes=scopes)[0]


def test_window_and_baseline_sums_equal_the_messages_and_follow_late_arrivals(
    db_factory: sessionmaker[Session],
) -> None:
    history = flat_stream(T0 - timedelta(hours=6), T0, per_minute=3, seed=2)
    seed_history(db_factory, history)
    cached, direct = RollupReader(), RollupReader(hour_cache=False)
    stop = hour_index(T0)
    hours = HourRange(stop - 5, stop)
    window = Span(T0 - timedelta(minutes=15), T0)
    with db_factory() as s:
        truth = oracle(history, "v1", *(hours.span.start, hours.span.end))
        scopes = set(truth)
        assert _baseline(cached, s, "v1", hours, scopes) == truth
        assert _baseline(direct, s, "v1", hours, scopes) == truth
        assert _window(cached, s, "v1", window) == oracle(history, "v1", window.start, window.end)

    # Late arrivals: published inside hours the cache already summed, stored through the real write path.
    late = [  # all in the hour [T0 - 3h, T0 - 2h)
        scored(f"late-{i}", at=T0 - timedelta(hours=3) + timedelta(minutes=i + 1), sentiment="negative", tickers=["ACME", "AAPL"],
               topic="Legal", source="forum")
        for i in range(7)
    ]
    with session_scope(db_factory) as s:
        write_scored(s, late)
    everything = history + late
    with db_factory() as s:
        truth = oracle(everything, "v1", hours.span.start, hours.span.end)
        assert _baseline(cached, s, "v1", hours, set(truth)) == truth
        assert truth[("ticker", "ACME")].negative >= 7
        # The hour moves on: the running sum shifts by one hour and stays exact.
        later = HourRange(hours.first + 1, hours.stop + 1)
        assert _baseline(cached, s, "v1", later, set(truth)) == oracle(everything, "v1", later.span.start, later.span.end)
    assert cached.stats["hours_summed"] == 5 + 1 + 1  # cold, the hour the late data touched, the new hour


def test_a_rescore_by_a_new_model_version_has_its_own_sums_and_replays_change_nothing(
    db_factory: sessionmaker[Session],
) -> None:
    v1 = [scored(f"d{i}", at=T0 - timedelta(minutes=50 - i), sentiment="neutral", tickers=["ACME"]) for i in range(40)]
    with session_scope(db_factory) as s:
        write_scored(s, v1)
    v2 = [m.model_copy(update={"model_version": "v2", "sentiment": "negative"}) for m in v1]
    with session_scope(db_factory) as s:
        write_scored(s, v2 + v1[:10])  # the re-score, plus a replay of v1 messages
    reader = RollupReader()
    window = Span(T0 - timedelta(hours=1), T0)
    with db_factory() as s:
        assert _window(reader, s, "v1", window)[("ticker", "ACME")] == Counts(0, 40, 0)
        assert _window(reader, s, "v2", window)[("ticker", "ACME")] == Counts(40, 0, 0)
        hours = HourRange(hour_index(T0) - 2, hour_index(T0))
        for version, messages in (("v1", v1), ("v2", v2)):
            truth = oracle(messages, version, hours.span.start, hours.span.end)
            assert _baseline(reader, s, version, hours, set(truth)) == truth
