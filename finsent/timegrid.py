"""Whole steps of time since the Unix epoch, in UTC: the grid rollups, buckets and cache slots sit on."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = ["EPOCH", "ceil_time", "floor_time"]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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
