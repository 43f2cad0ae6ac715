"""The dashboard's queries give the numbers the seeded history implies, on PostgreSQL and SQLite."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import Connection

from finsent.dashboard import queries
from finsent.dashboard.ranges import RANGES, WINDOWS, floor_time
from finsent.db import make_engine
from finsent.messages import ScoredMessage
from finsent.timegrid import EPOCH
from tests.utils.dashboard_seed import (
    MAIN_VERSION,
    OLD_VERSION,
    SOURCES,
    SPIKE_TICKER,
    SPIKE_TITLE,
    SPIKE_TOPIC,
    TOPICS,
    Seeded,
)


@pytest.fixture(scope="module")
def conn(seeded: Seeded) -> Iterator[Connection]:
    engine = make_engine(seeded.url)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def _in(messages: list[ScoredMessage], start: datetime, end: datetime) -> list[ScoredMessage]:
    return [m for m in messages if start <= m.published_at.replace(second=0, microsecond=0) < end]


def _counts(messages: list[ScoredMessage]) -> queries.Counts:
    c = Counter(m.sentiment for m in messages)
    return queries.Counts(c["negative"], c["neutral"], c["positive"])


def test_versions_most_recent_first(conn: Connection) -> None:
    assert queries.model_versions(conn) == [MAIN_VERSION, OLD_VERSION]


def test_scopes_are_listed_from_the_rollups(conn: Connection, seeded: Seeded) -> None:
    assert queries.scopes(conn, model_version=MAIN_VERSION, kind="topic") == sorted(TOPICS)
    assert queries.scopes(conn, model_version=MAIN_VERSION, kind="source") == sorted(SOURCES)
    tickers = {t for m in seeded.main() for t in m.tickers}
    assert queries.scopes(conn, model_version=MAIN_VERSION, kind="ticker") == sorted(tickers)
    assert queries.scopes(conn, model_version="no-such-version", kind="topic") == []


@pytest.mark.parametrize("span", [RANGES[0], RANGES[2]], ids=lambda r: r.label)
def test_series_matches_the_documents_bucket_by_bucket(conn: Connection, seeded: Seeded, span) -> None:
    start, end = span.bounds(seeded.now)
    frame = queries.series(
        conn, model_version=MAIN_VERSION, kind="all", scope="*", start=start, end=end, bucket=span.bucket
    )
    expected: dict[datetime, Counter[str]] = {}
    for m in _in(seeded.main(), start, end):
        expected.setdefault(floor_time(m.published_at, span.bucket), Counter())[m.sentiment] += 1
    # Every bucket is present, empty ones as zeros, and each equals the documents in it.
    assert len(frame) == -(-(end - start) // span.bucket)  # the last bucket may be partial
    assert frame["time"].iloc[0].to_pydatetime() == start
    for row in frame.itertuples():
        want = expected.get(row.time.to_pydatetime(), Counter())
        assert (row.negative, row.neutral, row.positive) == (
            want["negative"],
            want["neutral"],
            want["positive"],
        )
    total = frame["volume"].sum()
    assert total == len(_in(seeded.main(), start, end)) > 0
    busy = frame[frame["volume"] > 0]
    assert ((busy["negative_rate"] >= 0) & (busy["negative_rate"] <= 1)).all()
    assert (busy["net_sentiment"] == (busy["positive"] - busy["negative"]) / busy["volume"]).all()


def test_series_of_one_scope_and_counts_agree(conn: Connection, seeded: Seeded) -> None:
    start, end = RANGES[2].bounds(seeded.now)
    frame = queries.series(
        conn, model_version=MAIN_VERSION, kind="ticker", scope=SPIKE_TICKER, start=start, end=end,
        bucket=RANGES[2].bucket,
    )  # fmt: skip
    got = queries.counts(
        conn, model_version=MAIN_VERSION, kind="ticker", scope=SPIKE_TICKER, start=start, end=end
    )
    want = _counts([m for m in _in(seeded.main(), start, end) if SPIKE_TICKER in m.tickers])
    assert got == want
    assert (frame["negative"].sum(), frame["volume"].sum()) == (want.negative, want.volume)
    assert got.negative_rate == pytest.approx(want.negative / want.volume)


def test_counts_of_an_empty_span_have_no_rates(conn: Connection) -> None:
    t = datetime(2001, 1, 1, tzinfo=timezone.utc)
    empty = queries.counts(
        conn, model_version=MAIN_VERSION, kind="all", scope="*", start=t, end=t + timedelta(hours=1)
    )
    assert empty == queries.Counts() and empty.negative_rate is None and empty.net_sentiment is None


def test_movers_put_the_spike_first_with_the_right_rates(conn: Connection, seeded: Seeded) -> None:
    window = WINDOWS[0]  # last hour vs the 24 hours before
    baseline_start, window_start, end = window.bounds(seeded.now)
    ranked = queries.movers(
        conn, model_version=MAIN_VERSION, kind="topic",
        baseline_start=baseline_start, window_start=window_start, end=end,
    )  # fmt: skip
    assert ranked["scope"].iloc[0] == SPIKE_TOPIC
    top = ranked.iloc[0]
    recent = _counts([m for m in _in(seeded.main(), window_start, end) if m.topic == SPIKE_TOPIC])
    before = _counts([m for m in _in(seeded.main(), baseline_start, window_start) if m.topic == SPIKE_TOPIC])
    assert top["volume"] == recent.volume and top["baseline_volume"] == before.volume
    assert top["negative_rate"] == pytest.approx(recent.negative_rate)
    assert top["baseline_rate"] == pytest.approx(before.negative_rate)
    assert top["change"] == pytest.approx((recent.negative_rate - before.negative_rate) * 100)
    assert top["change"] > 30
    assert list(ranked["change"]) == sorted(ranked["change"], reverse=True)
    tickers = queries.movers(
        conn, model_version=MAIN_VERSION, kind="ticker",
        baseline_start=baseline_start, window_start=window_start, end=end,
    )  # fmt: skip
    # XOM has no history before the spike: it is measured against the whole stream's baseline.
    xom = tickers.iloc[0]
    assert xom["scope"] == SPIKE_TICKER and xom["baseline_volume"] == 0
    market = _counts(_in(seeded.main(), baseline_start, window_start))
    assert xom["baseline_rate"] == pytest.approx(market.negative_rate)


def test_movers_leave_out_thin_scopes(conn: Connection, seeded: Seeded) -> None:
    baseline_start, window_start, end = WINDOWS[0].bounds(seeded.now)
    ranked = queries.movers(
        conn, model_version=MAIN_VERSION, kind="topic",
        baseline_start=baseline_start, window_start=window_start, end=end, min_volume=50,
    )  # fmt: skip
    assert list(ranked["scope"]) == [SPIKE_TOPIC]
    assert queries.movers(
        conn, model_version="no-such-version", kind="topic",
        baseline_start=baseline_start, window_start=window_start, end=end,
    ).empty  # fmt: skip


def test_one_bucketed_scan_gives_heatmap_and_detail(conn: Connection, seeded: Seeded) -> None:
    window = WINDOWS[0]
    baseline_start, window_start, end = window.bounds(seeded.now)
    buckets = queries.scope_buckets(
        conn, model_version=MAIN_VERSION, kind="topic", start=baseline_start, end=end, bucket=window.bucket
    )
    # Buckets are counted from the baseline's start, so none straddles the window's start.
    assert ((buckets["time"] - pd.Timestamp(baseline_start)) % window.bucket == pd.Timedelta(0)).all()
    heat = queries.heat_cells(buckets, names=TOPICS, start=window_start)
    per_topic = heat.groupby("scope")["volume"].sum().to_dict()
    assert per_topic == dict(Counter(m.topic for m in _in(seeded.main(), window_start, end)))
    detail = queries.scope_series(
        buckets, scope=SPIKE_TOPIC, start=baseline_start, end=end, bucket=window.bucket
    )
    assert len(detail) == (end - baseline_start) // window.bucket
    recent = detail["time"] >= window_start
    want = _counts([m for m in _in(seeded.main(), window_start, end) if m.topic == SPIKE_TOPIC])
    assert (detail.loc[recent, "negative"].sum(), detail.loc[recent, "volume"].sum()) == (
        want.negative,
        want.volume,
    )
    # The ranking from these buckets is the ranking movers() gives.
    market = queries.counts(
        conn, model_version=MAIN_VERSION, kind="all", scope="*", start=baseline_start, end=window_start
    )
    ranked = queries.rank_movers(
        buckets, baseline_start=baseline_start, window_start=window_start, end=end,
        market_rate=market.negative_rate,
    )  # fmt: skip
    direct = queries.movers(
        conn, model_version=MAIN_VERSION, kind="topic",
        baseline_start=baseline_start, window_start=window_start, end=end,
    )  # fmt: skip
    pd.testing.assert_frame_equal(ranked, direct)


def test_headlines_newest_first_within_the_range(conn: Connection, seeded: Seeded) -> None:
    start, end = RANGES[2].bounds(seeded.now)
    rows = queries.headlines(conn, model_version=MAIN_VERSION, start=start, end=end, limit=50)
    assert len(rows) == 50
    assert rows["time"].is_monotonic_decreasing
    newest = max(seeded.main(), key=lambda m: m.published_at)
    assert rows["time"].iloc[0].to_pydatetime() == newest.published_at
    assert set(rows.columns) >= {"time", "source", "topic", "sentiment", "score", "tickers", "url", "title"}
    assert rows["url"].str.startswith("https://news.example.com/").all()


def test_headline_filters(conn: Connection, seeded: Seeded) -> None:
    start, end = RANGES[2].bounds(seeded.now)

    def find(**filters) -> list[str]:  # type: ignore[no-untyped-def]
        return list(
            queries.headlines(conn, model_version=MAIN_VERSION, start=start, end=end, limit=1000, **filters)[
                "id"
            ]
        )

    spike = [m for m in _in(seeded.main(), start, end) if SPIKE_TITLE in m.title]
    assert sorted(find(search="REFINERY outage")) == sorted(m.id for m in spike)
    assert find(search="%") == []  # LIKE wildcards are escaped, not interpreted
    negative_spike = find(search="refinery", sentiments=["negative"])
    assert len(negative_spike) == len(spike)
    assert find(search="refinery", sentiments=["positive"]) == []
    xom = find(ticker="$xom ")
    assert len(xom) == sum(SPIKE_TICKER in m.tickers for m in _in(seeded.main(), start, end)) > 0
    by_topic = find(topics=[SPIKE_TOPIC], sources=["reuters-wire"])
    assert len(by_topic) == sum(
        m.topic == SPIKE_TOPIC and m.source == "reuters-wire" for m in _in(seeded.main(), start, end)
    )
    confident = find(min_score=0.95)
    assert len(confident) == sum(m.sentiment_score >= 0.95 for m in _in(seeded.main(), start, end))
    assert find(ticker="NOPE") == []


def test_version_summary(conn: Connection, seeded: Seeded) -> None:
    old = [m for m in seeded.messages if m.model_version == OLD_VERSION]
    info = queries.version_summary(conn, model_version=OLD_VERSION)
    assert info.counts == _counts(old)
    assert queries.version_span(conn, model_version=OLD_VERSION) == (info.first_minute, info.last_minute)
    assert info.first_minute == min(m.published_at for m in old).replace(second=0)
    assert info.last_minute == max(m.published_at for m in old).replace(second=0)


def test_alert_markers_and_firing_count(conn: Connection, seeded: Seeded) -> None:
    assert queries.has_alerts(conn)
    assert queries.firing_alerts(conn) == 3
    start, end = RANGES[0].bounds(seeded.now)
    markers = queries.alert_markers(conn, start=start, end=end, model_version=MAIN_VERSION)
    assert len(markers) == 3
    assert any(f"ticker {SPIKE_TICKER}" in label for label in markers["label"])
    only_topic = queries.alert_markers(
        conn, start=start, end=end, model_version=MAIN_VERSION, scope_kind="topic", scope=SPIKE_TOPIC
    )
    assert len(only_topic) == 1
    assert queries.alert_markers(conn, start=start, end=end, model_version=OLD_VERSION).empty


_HOUR = timedelta(hours=1)
_BUCKETS = [timedelta(minutes=15), _HOUR, 2 * _HOUR, 3 * _HOUR, 6 * _HOUR, 12 * _HOUR, timedelta(days=1)]


def test_plan_splits_a_range_into_minutes_and_whole_hours_inside_one_bucket() -> None:
    rng = random.Random(11)
    base = datetime(2026, 3, 2, tzinfo=timezone.utc)
    hourly_used = 0
    for _ in range(150):
        start = base + timedelta(minutes=rng.randrange(0, 3000))
        end = start + timedelta(minutes=rng.randrange(0, 2200))
        bucket = rng.choice([None, *_BUCKETS])
        origin = rng.choice([EPOCH, start, start - timedelta(minutes=rng.randrange(0, 1440))])
        plan = queries._plan(start, end, bucket, origin)
        hours: set[datetime] = set()
        if plan.hours is not None:
            hourly_used += 1
            h = plan.hours[0]
            while h < plan.hours[1]:
                if h not in plan.skip_hours:
                    hours.add(h)
                h += _HOUR
        for h in hours:  # a whole hour inside the range and inside one bucket
            assert start <= h and h + _HOUR <= end
            if bucket is not None:
                assert (h - origin) // bucket == (h + _HOUR - timedelta(minutes=1) - origin) // bucket
        # Every minute of [start, end) is read exactly once: from a minute span or a whole hour.
        minute = start
        while minute < end:
            in_spans = sum(lo <= minute < hi for lo, hi in plan.minute_spans)
            assert in_spans + (floor_time(minute, _HOUR) in hours) == 1, (start, end, bucket, origin, minute)
            minute += timedelta(minutes=1)
    assert hourly_used > 40


def _same_frames(hourly: pd.DataFrame, minutes: pd.DataFrame, keys: list[str]) -> None:
    def tidy(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sort_values(keys).reset_index(drop=True)

    pd.testing.assert_frame_equal(tidy(hourly), tidy(minutes))


def test_hourly_rollups_give_the_minute_rollups_answers(
    conn: Connection, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random unaligned ranges, buckets and origins: reads using whole hours equal minute-only reads."""
    rng = random.Random(29)

    def minute_only(start: datetime, end: datetime, *_: object) -> queries._Plan:
        return queries._Plan(minute_spans=((start, end),))

    cases = []
    for _ in range(12):
        start = seeded.now - timedelta(hours=27) + timedelta(minutes=rng.randrange(0, 27 * 60))
        end = start + timedelta(minutes=rng.randrange(30, 30 * 60), seconds=rng.choice([0, 0, 17]))
        cases.append((start, end, rng.choice(_BUCKETS)))
    # The movers windows as the page computes them, at a moment off the hour (15-minute slot).
    for window in WINDOWS:
        baseline_start, _, end = window.bounds(seeded.now - timedelta(minutes=7))
        cases.append((baseline_start, end, window.bucket))
    hourly_used = 0
    for start, end, bucket in cases:
        hourly_used += queries._plan(start, end, bucket, start).hours is not None
        reads = {
            "series": lambda: queries.series(
                conn, model_version=MAIN_VERSION, kind="topic", scope="Macro", start=start, end=end,
                bucket=bucket,
            ),
            "all": lambda: queries.series(
                conn, model_version=MAIN_VERSION, kind="all", scope="*", start=start, end=end, bucket=bucket
            ),
            "tickers": lambda: queries.scope_buckets(
                conn, model_version=MAIN_VERSION, kind="ticker", start=start, end=end, bucket=bucket
            ),
            "counts": lambda: queries.counts(
                conn, model_version=MAIN_VERSION, kind="source", scope=SOURCES[0], start=start, end=end
            ),
        }  # fmt: skip
        got = {name: read() for name, read in reads.items()}
        with monkeypatch.context() as patch:
            patch.setattr(queries, "_plan", minute_only)
            want = {name: read() for name, read in reads.items()}
        _same_frames(got["series"], want["series"], ["time"])
        _same_frames(got["all"], want["all"], ["time"])
        _same_frames(got["tickers"], want["tickers"], ["scope", "time"])
        assert got["counts"] == want["counts"]
        assert got["all"]["volume"].sum() == len(_in(seeded.main(), start, end))
    assert hourly_used >= 8
