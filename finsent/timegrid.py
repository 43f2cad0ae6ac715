"""Whole steps of time since the Unix epoch, in UTC: the grid rollups, buckets, baselines and cache slots sit on."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = ["EPOCH", "HOUR", "MINUTE", "ceil_time", "floor_time", "hour_index", "hour_start"]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def floor_time(moment: datetime, step: timedelta) -> datetime:
    """``moment`` rounded down to a whole multiple of ``step`` since the epoch (UTC); unchanged for step <= 0."""
    if step <= timedelta(0):
        return moment
    return EPOCH + ((moment.astimezone(timezone.utc) - EPOCH) // step) * step


def ceil_time(moment: datetime, step: timedelta) -> datetime:
    """``moment`` rounded up to a whole multiple of ``step`` since the epoch (UTC); unchanged for step <= 0."""
    if step <= timedelta(0):
        return moment
    return EPOCH - ((EPOCH - moment.astimezone(timezone.utc)) // step) * step


def hour_index(moment: datetime) -> int:
    """Whole hours since the epoch (UTC) of the hour ``moment`` falls in."""
    return int((moment - EPOCH) // HOUR)


def hour_start(index: int) -> datetime:
    """The instant an hour index starts."""
    return EPOCH + index * HOUR
