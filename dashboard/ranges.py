"""Time ranges the pages offer, each with a bucket size that keeps charts at 60-370 points.

A range also says how stale its figures may be: a year view recomputed every 15 seconds
would read half a million rollup rows for no visible change, so longer ranges pin their
end time to coarser slots, and the cache serves the whole slot. Short ranges use the
auto-refresh interval as their slot (``min_slot``), so each refresh shows new documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from finsent.timegrid import MINUTE, floor_time

__all__ = [
    "EARLIEST_ASOF",
    "RANGES",
    "Range",
    "WINDOWS",
    "Window",
    "floor_time",
    "parse_asof",
    "range_by_label",
    "window_by_label",
]

# A pinned time must leave room for the longest range before it and the pages' arithmetic after it:
# ``9999-12-31`` parses, but adding a day to it overflows (it used to raise on the page).
EARLIEST_ASOF = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ASOF_AHEAD = timedelta(days=1)


@dataclass(frozen=True)
class Range:
    """A look-back span, its chart bucket and the slot its end time is pinned to."""

    label: str
    span: timedelta
    bucket: timedelta
    slot: timedelta

    def bounds(self, now: datetime, *, min_slot: timedelta = timedelta(0)) -> tuple[datetime, datetime]:
        """[start, end): end is ``now`` rounded up to the slot, start a whole number of buckets before it."""
        slot = max(self.slot, min_slot)
        end = floor_time(now, slot) + slot
        start = floor_time(end - self.span, self.bucket)
        return start, end


RANGES: tuple[Range, ...] = (
    Range("Last hour", timedelta(hours=1), timedelta(minutes=1), timedelta(seconds=10)),
    Range("Last 6 hours", timedelta(hours=6), timedelta(minutes=5), timedelta(seconds=10)),
    Range("Last 24 hours", timedelta(hours=24), timedelta(minutes=15), timedelta(minutes=1)),
    Range("Last 7 days", timedelta(days=7), timedelta(hours=1), timedelta(minutes=5)),
    Range("Last 30 days", timedelta(days=30), timedelta(hours=6), timedelta(minutes=15)),
    Range("Last 90 days", timedelta(days=90), timedelta(days=1), timedelta(hours=1)),
    Range("Last year", timedelta(days=365), timedelta(days=1), timedelta(hours=1)),
)


@dataclass(frozen=True)
class Window:
    """A recent window compared with the baseline just before it (for top movers)."""

    label: str
    span: timedelta
    baseline: timedelta
    bucket: timedelta  # heatmap columns
    slot: timedelta  # the end is pinned to it, as for ranges
    # How often a read of the open slot is redone (a cache-key part); the slot when None. Lets a
    # long window keep an hour slot, so that it reads the hourly rollups only, and still be fresh.
    refresh: timedelta | None = None

    def bounds(self, now: datetime) -> tuple[datetime, datetime, datetime]:
        """(baseline_start, window_start, end), end rounded up to the slot."""
        end = floor_time(now, self.slot) + self.slot
        window_start = end - self.span
        return window_start - self.baseline, window_start, end

    def refreshed(self, now: datetime) -> datetime:
        """The start of the refresh period ``now`` falls in: reads keyed on it are redone each period."""
        return floor_time(now, self.refresh or self.slot)


WINDOWS: tuple[Window, ...] = (
    Window(
        "Last hour vs the 24 hours before",
        timedelta(hours=1),
        timedelta(hours=24),
        timedelta(minutes=5),
        MINUTE,
    ),
    Window(
        "Last 6 hours vs the 7 days before",
        timedelta(hours=6),
        timedelta(days=7),
        timedelta(minutes=30),
        MINUTE,
    ),
    Window(
        "Last 24 hours vs the 7 days before",
        timedelta(hours=24),
        timedelta(days=7),
        timedelta(hours=2),
        5 * MINUTE,
    ),
    Window(
        "Last 7 days vs the 28 days before",
        timedelta(days=7),
        timedelta(days=28),
        timedelta(hours=12),
        timedelta(hours=1),  # whole hours: 35 days read from the hourly rollups alone
        refresh=15 * MINUTE,
    ),
)

def range_by_label(label: str | None) -> Range:
    """The range with this label; the 24-hour one for anything unknown."""
    return next((r for r in RANGES if r.label == label), RANGES[2])


def window_by_label(label: str | None) -> Window:
    """The window with this label; the first for anything unknown."""
    return next((w for w in WINDOWS if w.label == label), WINDOWS[0])


def parse_asof(raw: str, *, now: datetime) -> datetime:
    """The ``?asof=`` time in UTC, or ValueError saying why not (not ISO, before 1970, after tomorrow).

    Only ISO 8601 is accepted (``2026-11-02T14:00``, with or without an offset; naive means UTC),
    so values such as ``-1`` or ``now`` are refused instead of read as something unexpected.
    """
    text = raw.strip()
    if not text or not text[0].isdigit():
        raise ValueError("not an ISO time")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError) as exc:
        raise ValueError("not an ISO time") from exc
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    if moment < EARLIEST_ASOF or moment > now + _ASOF_AHEAD:
        raise ValueError(f"outside {EARLIEST_ASOF:%Y-%m-%d} .. tomorrow")
    return moment
