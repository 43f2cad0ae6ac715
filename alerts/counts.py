"""Sums of per-minute rollups over time spans, by scope: the only way alert evaluation reads data.

Windows (minutes long) are summed straight from ``rollups``. A baseline (days long) is split
into whole hours plus the minutes at either edge; the whole hours come from an in-process
cache of hourly sums, so a cycle reads a few thousand rollup rows however long the baseline.

The cache stays exact when messages arrive late: every stored score increments the ``all``
scope of its minute (``finsent.store.scope_keys``), so an hour whose ``all`` total changed is
an hour that changed, and is summed again. One cheap query per cycle (the ``all`` scope's
hourly totals over the baseline) decides which hours are stale. ``rebuild_rollups`` can
rewrite per-scope counts without changing totals; call ``clear()`` (or restart) after one.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import BigInteger, ColumnElement, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from alerts.detect import Counts
from finsent.store import SENTIMENTS
from finsent.tables import Rollup

__all__ = ["HOUR", "MINUTE", "RollupReader", "ScopeKey", "Span", "floor_minute"]

log = logging.getLogger(__name__)

ScopeKey = tuple[str, str]  # (scope_kind, scope)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_R = Rollup.__table__.c


def floor_minute(at: datetime) -> datetime:
    """The start of the minute ``at`` falls in."""
    return at.replace(second=0, microsecond=0)


def _hour_index(at: datetime) -> int:
    return int((at - _EPOCH) // HOUR)


def _hour_start(index: int) -> datetime:
    return _EPOCH + index * HOUR


@dataclass(frozen=True, order=True)
class Span:
    """A half-open period [start, end) of whole minutes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("spans need timezone-aware datetimes")
        if self.end < self.start or floor_minute(self.start) != self.start or floor_minute(self.end) != self.end:
            raise ValueError(f"not a span of whole minutes: {self.start} .. {self.end}")

    def split(self) -> tuple[list[Span], range]:
        """The minute-level pieces and the whole hours (as hour indexes) that make up this span."""
        first = _hour_index(self.start) + (0 if self.start == _hour_start(_hour_index(self.start)) else 1)
        last = _hour_index(self.end)  # exclusive
        if first >= last:
            return [self], range(0)
        pieces = [Span(self.start, _hour_start(first)), Span(_hour_start(last), self.end)]
        return [p for p in pieces if p.start < p.end], range(first, last)


@dataclass
class _Hour:
    all_total: int
    by_scope: dict[ScopeKey, Counts] = field(default_factory=dict)


def _hour_column(session: Session) -> ColumnElement[int]:
    # Hours since the epoch, in UTC on both backends (SQLite keeps the minute as UTC text).
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", _R.minute) / 3600), BigInteger)
    return cast(func.strftime("%s", _R.minute), BigInteger) / 3600


def _in_spans(spans: Sequence[Span]) -> ColumnElement[bool]:
    return or_(*(and_(_R.minute >= s.start, _R.minute < s.end) for s in spans))


class RollupReader:
    """Sums rollups of one model version over spans, per (scope_kind, scope); keeps an hourly cache."""

    def __init__(self, *, hour_cache: bool = True) -> None:
        self._use_cache = hour_cache
        self._hours: dict[int, _Hour] = {}
        self._version: str | None = None
        self.stats = {"hours_summed": 0, "hours_reused": 0}

    def clear(self) -> None:
        """Forget every cached hour (after rollups were rebuilt by hand)."""
        self._hours.clear()

    def sums(
        self,
        session: Session,
        *,
        model_version: str,
        spans: Sequence[Span],
        scopes: Collection[ScopeKey] | None = None,
    ) -> list[dict[ScopeKey, Counts]]:
        """For each span, the counts of every scope with data in it (or only of ``scopes``)."""
        if model_version != self._version:
            self._hours.clear()
            self._version = model_version
        minute_parts: list[list[Span]] = []
        hour_parts: list[range] = []
        for span in spans:
            pieces, hours = span.split() if self._use_cache else ([span], range(0))
            minute_parts.append(pieces)
            hour_parts.append(hours)
        distinct = sorted({p for pieces in minute_parts for p in pieces})
        by_part = self._minute_sums(session, model_version, distinct)
        needed = sorted({h for hours in hour_parts for h in hours})
        if needed:
            self._refresh(session, model_version, needed)
        wanted = set(scopes) if scopes is not None else None
        out: list[dict[ScopeKey, Counts]] = []
        for pieces, hours in zip(minute_parts, hour_parts, strict=True):
            acc: dict[ScopeKey, Counts] = {}
            for piece in pieces:
                _add_into(acc, by_part[piece], wanted)
            for h in hours:
                _add_into(acc, self._hours[h].by_scope, wanted)
            out.append(acc)
        return out

    def _minute_sums(
        self, session: Session, model_version: str, parts: Sequence[Span]
    ) -> dict[Span, dict[ScopeKey, Counts]]:
        result: dict[Span, dict[ScopeKey, Counts]] = {p: {} for p in parts}
        parts = [p for p in parts if p.start < p.end]
        if not parts:
            return result
        # One pass over the union of the parts, one conditional sum per part and sentiment.
        columns = [
            func.sum(case((and_(_R.minute >= p.start, _R.minute < p.end), _R[s]), else_=0))
            for p in parts
            for s in SENTIMENTS
        ]
        query = (
            select(_R.scope_kind, _R.scope, *columns)
            .where(_R.model_version == model_version, _in_spans(_merge(parts)))
            .group_by(_R.scope_kind, _R.scope)
        )
        for row in session.execute(query):
            key = (row[0], row[1])
            values = row[2:]
            for i, part in enumerate(parts):
                neg, neu, pos = (int(v or 0) for v in values[3 * i : 3 * i + 3])
                if neg or neu or pos:
                    result[part][key] = Counts(neg, neu, pos)
        return result

    def _refresh(self, session: Session, model_version: str, needed: Sequence[int]) -> None:
        hour = _hour_column(session)
        lo, hi = _hour_start(needed[0]), _hour_start(needed[-1] + 1)
        totals_query = (
            select(hour, func.sum(_R.negative + _R.neutral + _R.positive))
            .where(
                _R.model_version == model_version,
                _R.scope_kind == "all",
                _R.scope == "*",
                _R.minute >= lo,
                _R.minute < hi,
            )
            .group_by(hour)
        )
        totals = {int(h): int(t) for h, t in session.execute(totals_query)}
        stale = [
            h for h in needed if h not in self._hours or self._hours[h].all_total != totals.get(h, 0)
        ]
        self.stats["hours_reused"] += len(needed) - len(stale)
        self.stats["hours_summed"] += len(stale)
        # Hours before the oldest one needed are never asked for again: time only moves forward.
        for old in [h for h in self._hours if h < needed[0]]:
            del self._hours[old]
        if not stale:
            return
        fresh = {h: _Hour(all_total=0) for h in stale}
        ranges = _merge([Span(_hour_start(h), _hour_start(h + 1)) for h in stale])
        query = (
            select(hour, _R.scope_kind, _R.scope, *(func.sum(_R[s]) for s in SENTIMENTS))
            .where(_R.model_version == model_version, _in_spans(ranges))
            .group_by(hour, _R.scope_kind, _R.scope)
        )
        for h, kind, scope, neg, neu, pos in session.execute(query):
            counts = Counts(int(neg or 0), int(neu or 0), int(pos or 0))
            entry = fresh[int(h)]
            entry.by_scope[(kind, scope)] = counts
            if kind == "all":
                # The total from the same snapshot as the per-scope sums: a write racing this
                # query shows up as a changed total next cycle, never as a silently stale hour.
                entry.all_total = counts.total
        self._hours.update(fresh)
        log.debug("summed %d hours of rollups", len(stale), extra={"model_version": model_version})


def _merge(spans: Sequence[Span]) -> list[Span]:
    """Overlapping or touching spans joined, so each rollup row is read once."""
    merged: list[Span] = []
    for span in sorted(spans):
        if merged and span.start <= merged[-1].end:
            merged[-1] = Span(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged


def _add_into(acc: dict[ScopeKey, Counts], part: dict[ScopeKey, Counts], wanted: set[ScopeKey] | None) -> None:
    if wanted is None:
        for key, counts in part.items():
            acc[key] = acc[key] + counts if key in acc else counts
        return
    for key in wanted if len(wanted) < len(part) else list(part):
        counts = part.get(key)
        if counts is not None and (key in wanted):
            acc[key] = acc[key] + counts if key in acc else counts
