"""Ranges give whole buckets, a sensible number of points, and an end pinned to their slot."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from finsent.dashboard.ranges import RANGES, WINDOWS, floor_time, range_by_label, window_by_label

NOW = datetime(2026, 3, 2, 14, 37, 42, 123456, tzinfo=timezone.utc)


def test_floor_time_is_epoch_aligned() -> None:
    assert floor_time(NOW, timedelta(minutes=15)) == datetime(2026, 3, 2, 14, 30, tzinfo=timezone.utc)
    assert floor_time(NOW, timedelta(days=1)) == datetime(2026, 3, 2, tzinfo=timezone.utc)
    assert floor_time(NOW, timedelta(0)) == NOW


@pytest.mark.parametrize("span", RANGES, ids=lambda r: r.label)
def test_ranges_cover_now_with_60_to_400_buckets(span) -> None:
    start, end = span.bounds(NOW)
    assert end > NOW and end - NOW <= span.slot
    assert floor_time(start, span.bucket) == start
    assert end - start >= span.span
    assert 60 <= (end - start) / span.bucket <= 400
    # Any moment within one slot gives the same bounds, so cached reads serve the whole slot.
    slot_start = floor_time(NOW, span.slot)
    assert span.bounds(slot_start) == span.bounds(slot_start + span.slot - timedelta(microseconds=1))
    assert span.bounds(slot_start + span.slot) != span.bounds(slot_start)


def test_min_slot_coarsens_the_end() -> None:
    _, end = RANGES[0].bounds(NOW, min_slot=timedelta(minutes=5))
    assert end == datetime(2026, 3, 2, 14, 40, tzinfo=timezone.utc)


@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: w.label)
def test_windows_put_the_baseline_right_before(window) -> None:
    baseline_start, window_start, end = window.bounds(NOW)
    assert end - window_start == window.span and window_start - baseline_start == window.baseline
    assert NOW < end <= NOW + window.slot and floor_time(end, window.slot) == end
    # Heatmap buckets counted from the baseline's start never straddle the window's start.
    assert window.baseline % window.bucket == timedelta(0) and window.span % window.bucket == timedelta(0)


def test_the_long_window_reads_whole_hours_and_is_redone_every_refresh_period() -> None:
    window = WINDOWS[-1]
    baseline_start, window_start, end = window.bounds(NOW)
    assert all(floor_time(t, timedelta(hours=1)) == t for t in (baseline_start, window_start, end))
    period = window.refreshed(NOW)
    assert period <= NOW < period + timedelta(minutes=15)
    # Same bounds all hour, but a new cache key every 15 minutes.
    later = NOW + timedelta(minutes=15)
    if window.bounds(later) == window.bounds(NOW):
        assert window.refreshed(later) != period
    assert WINDOWS[0].refreshed(NOW) == floor_time(NOW, WINDOWS[0].slot)


def test_lookup_by_label_falls_back() -> None:
    assert range_by_label("Last 7 days").span == timedelta(days=7)
    assert range_by_label("nonsense").label == "Last 24 hours"
    assert window_by_label(None) is WINDOWS[0]
