"""Sums of per-minute rollups, by scope: the only way alert evaluation reads data.

Windows (minutes long) are summed straight from ``rollups``. Baselines (days long) are whole
hours, summed from an in-process cache of hourly sums and kept as running totals, so a cycle
reads a window's worth of rollup rows however long the baseline is.

The cache stays exact when messages arrive late: every stored score increments the ``all``
scope of its minute (``finsent.store.scope_keys``), as a sentiment or, counting stories, as a
copy in ``duplicates``, so an hour whose ``all`` total changed is an hour that changed, and it
is summed again. One index-only query per cycle (the ``all``
scope's hourly totals over the baselines, on ``ix_rollups_all_scope_counts``) finds those
hours. ``rebuild_rollups`` can rewrite per-scope counts without changing a total; call
``clear()`` (or restart ``finsent alerts run``) after using it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, ColumnElement, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from finsent.alerts.detect import Counts
from finsent.messages import SENTIMENT_LABELS
from finsent.tables import Rollup
from finsent.timegrid import MINUTE, floor_time, hour_start

__all__ = ["HourRange", "RollupReader", "ScopeKey", "Span"]

log = logging.getLogger(__name__)

ScopeKey = tuple[str, str]  # (scope_kind, scope)
_R = Rollup.__table__.c


@dataclass(frozen=True, order=True)
class Span:
    """A half-open period [start, end) of whole minutes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("spans need timezone-aware datetimes")
        if self.end < self.start or floor_time(self.start, MINUTE) != self.start or floor_time(self.end, MINUTE) != self.end:
            raise ValueError(f"not a span of whole minutes: {self.start} .. {self.end}")


@dataclass(frozen=True, order=True)
class HourRange:
    """Whole hours [first, stop) as hour indexes."""

    first: int
    stop: int

    @property
    def span(self) -> Span:
        return Span(hour_start(self.first), hour_start(self.stop))


def _hour_column(session: Session) -> ColumnElement[int]:
    # Hours since the epoch, in UTC on both backends (SQLite keeps the minute as UTC text).
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", _R.minute), BigInteger) // 3600  # integer division: no numeric maths
    return cast(func.strftime("%s", _R.minute), BigInteger) // 3600


def _in_spans(spans: Sequence[Span]) -> ColumnElement[bool]:
    return or_(*(and_(_R.minute >= s.start, _R.minute < s.end) for s in spans))


def _merge(spans: Iterable[Span]) -> list[Span]:
    """Overlapping or touching spans joined, so each rollup row is read once."""
    merged: list[Span] = []
    for span in sorted(spans):
        if merged and span.start <= merged[-1].end:
            merged[-1] = Span(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged


Totals = dict[ScopeKey, list[int]]  # mutable [negative, neutral, positive], for running sums


# An hour's counts per scope as plain tuples in plain dicts: the garbage collector stops
# tracking those after one pass, so ~100k cached entries do not lengthen its full scans
# (with dataclass entries a full scan paused a benchmark cycle for ~400 ms).
HourCounts = dict[ScopeKey, tuple[int, int, int]]


def _add(into: Totals, part: HourCounts, sign: int = 1) -> None:
    for key, (neg, neu, pos) in part.items():
        acc = into.get(key)
        if acc is None:
            into[key] = [sign * neg, sign * neu, sign * pos]
        else:
            acc[0] += sign * neg
            acc[1] += sign * neu
            acc[2] += sign * pos


@dataclass
class _Hour:
    all_total: int
    by_scope: HourCounts


class RollupReader:
    """Reads window and baseline counts of one model version, per (scope_kind, scope)."""

    def __init__(self, *, hour_cache: bool = True) -> None:
        self._use_cache = hour_cache
        self._version: str | None = None
        self._hours: dict[int, _Hour] = {}
        self._ranges: dict[HourRange, Totals] = {}  # running sums over cached hours
        self.stats = {"hours_summed": 0, "hours_reused": 0}

    def clear(self) -> None:
        """Forget every cached hour (after rollups were rebuilt by hand)."""
        self._hours.clear()
        self._ranges.clear()

    def _switch(self, model_version: str) -> None:
        if model_version != self._version:
            self.clear()
            self._version = model_version

    def window_sums(
        self, session: Session, *, model_version: str, spans: Sequence[Span], kinds: Collection[str]
    ) -> list[dict[ScopeKey, Counts]]:
        """For each span, the counts of every scope of ``kinds`` with data in it (one query for all spans)."""
        self._switch(model_version)
        distinct = sorted(set(spans))
        found: dict[Span, dict[ScopeKey, Counts]] = {s: {} for s in distinct}
        live = [s for s in distinct if s.start < s.end]
        if live:
            # One pass over the union of the spans, one conditional sum per span and sentiment.
            columns = [
                func.sum(case((and_(_R.minute >= s.start, _R.minute < s.end), _R[x]), else_=0))
                for s in live
                for x in SENTIMENT_LABELS
            ]
            query = (
                select(_R.scope_kind, _R.scope, *columns)
                .where(_R.model_version == model_version, _R.scope_kind.in_(sorted(kinds)), _in_spans(_merge(live)))
                .group_by(_R.scope_kind, _R.scope)
            )
            for row in session.execute(query):
                key, values = (row[0], row[1]), row[2:]
                for i, span in enumerate(live):
                    neg, neu, pos = (int(v or 0) for v in values[3 * i : 3 * i + 3])
                    if neg or neu or pos:
                        found[span][key] = Counts(neg, neu, pos)
        return [found[s] for s in spans]

    def baseline_sums(
        self,
        session: Session,
        *,
        model_version: str,
        ranges: Sequence[HourRange],
        scopes: Collection[ScopeKey],
    ) -> list[dict[ScopeKey, Counts]]:
        """For each range of whole hours, the counts of each of ``scopes`` (absent when zero)."""
        self._switch(model_version)
        if not self._use_cache:
            spans = [r.span for r in ranges]
            kinds = {k for k, _ in scopes}
            sums = self.window_sums(session, model_version=model_version, spans=spans, kinds=kinds)
            return [{k: c for k, c in part.items() if k in scopes} for part in sums]
        needed = sorted({h for r in ranges for h in range(r.first, r.stop)})
        if needed:
            self._refresh(session, model_version, needed)
        wanted = sorted(set(ranges))
        for r in wanted:
            if r not in self._ranges:
                self._ranges[r] = self._build_range(r)
        for unused in [r for r in self._ranges if r not in wanted]:
            del self._ranges[unused]
        # Hours before the oldest one needed are not asked for again: time only moves forward.
        oldest = min((r.first for r in wanted), default=0)
        for h in [h for h in self._hours if h < oldest]:
            del self._hours[h]
        out: dict[HourRange, dict[ScopeKey, Counts]] = {}
        for r in wanted:
            totals = self._ranges[r]
            out[r] = {k: Counts(*totals[k]) for k in scopes if k in totals and any(totals[k])}
        return [out[r] for r in ranges]

    def _build_range(self, r: HourRange) -> Totals:
        def cost(o: HourRange) -> int:
            return abs(o.first - r.first) + abs(o.stop - r.stop)

        # Shift the nearest running sum when that is cheaper (the baseline moves an hour at a time).
        nearest = min(self._ranges, key=cost, default=None)
        if nearest is not None and cost(nearest) < r.stop - r.first:
            totals = {k: list(v) for k, v in self._ranges[nearest].items()}
            for h in range(nearest.first, nearest.stop):
                if not r.first <= h < r.stop:
                    _add(totals, self._hours[h].by_scope, -1)
            for h in range(r.first, r.stop):
                if not nearest.first <= h < nearest.stop:
                    _add(totals, self._hours[h].by_scope)
            return totals
        totals = {}
        for h in range(r.first, r.stop):
            _add(totals, self._hours[h].by_scope)
        return totals

    def _refresh(self, session: Session, model_version: str, needed: Sequence[int]) -> None:
        hour = _hour_column(session)
        lo, hi = hour_start(needed[0]), hour_start(needed[-1] + 1)
        totals_query = (
            # Every stored document adds one here, counted or a copy of a story counted already.
            select(hour, func.sum(_R.negative + _R.neutral + _R.positive + _R.duplicates))
            .where(_R.model_version == model_version, _R.scope_kind == "all", _R.minute >= lo, _R.minute < hi)
            .group_by(hour)
        )
        totals = {int(h): int(t) for h, t in session.execute(totals_query)}
        stale = [h for h in needed if h not in self._hours or self._hours[h].all_total != totals.get(h, 0)]
        self.stats["hours_reused"] += len(needed) - len(stale)
        self.stats["hours_summed"] += len(stale)
        if not stale:
            return
        fresh = {h: _Hour(all_total=0, by_scope={}) for h in stale}
        ranges = _merge(Span(hour_start(h), hour_start(h + 1)) for h in stale)
        query = (
            select(hour, _R.scope_kind, _R.scope, *(func.sum(_R[s]) for s in SENTIMENT_LABELS), func.sum(_R.duplicates))
            .where(_R.model_version == model_version, _in_spans(ranges))
            .group_by(hour, _R.scope_kind, _R.scope)
        )
        for h, kind, scope, neg, neu, pos, dups in session.execute(query):
            counts = (int(neg or 0), int(neu or 0), int(pos or 0))
            entry = fresh[int(h)]
            entry.by_scope[(str(kind), str(scope))] = counts
            if kind == "all":
                # The total from the same snapshot as the per-scope sums: a write racing this
                # query shows up as a changed total next cycle, never as a silently stale hour.
                entry.all_total = sum(counts) + int(dups or 0)
        for h, entry in fresh.items():
            previous = self._hours.get(h)
            for r, running in self._ranges.items():
                if r.first <= h < r.stop:
                    if previous is not None:
                        _add(running, previous.by_scope, -1)
                    _add(running, entry.by_scope)
            self._hours[h] = entry
        log.debug("summed %d hours of rollups", len(stale), extra={"model_version": model_version})
