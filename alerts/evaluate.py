"""One pass of every rule over the rollups at a given instant: which scopes spike, with their statistics.

The window is the ``window`` of complete minutes before ``now``; the baseline is the
``baseline`` of whole hours ending where the window's hour starts (so it ends 0-59 minutes
before the window and is read from the hourly cache). Only data published before ``now`` is
read, so evaluating at a past instant (the backtest) sees exactly what was there.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from finsent.alerts.counts import HourRange, RollupReader, ScopeKey, Span
from finsent.alerts.detect import Counts, SpikeParams, SpikeStats, assess, overall_prior
from finsent.alerts.rules import Rule
from finsent.timegrid import HOUR, MINUTE, floor_time, hour_index

__all__ = ["Observation", "evaluate_rules", "rule_spans", "spike_params"]

_ALL: ScopeKey = ("all", "*")
_EMPTY = Counts()


@dataclass(frozen=True)
class Observation:
    """The spike test of one rule on one scope at one instant."""

    rule: Rule
    scope_kind: str
    scope: str
    window: Span
    baseline: Span
    stats: SpikeStats


def spike_params(rule: Rule) -> SpikeParams:
    """The numbers of a rule the pure test needs."""
    return SpikeParams(
        min_volume=rule.min_volume,
        min_rate=rule.min_rate,
        min_z=rule.min_z,
        min_lift=rule.min_lift,
        resolve_z=rule.resolve_z,
        prior_weight=rule.prior_weight,
    )


def rule_spans(rule: Rule, now: datetime) -> tuple[Span, HourRange]:
    """The window (complete minutes before ``now``) and the whole hours of baseline before the window's hour."""
    end = floor_time(now, MINUTE)
    start = end - rule.window
    stop = hour_index(start)
    return Span(start, end), HourRange(stop - int(rule.baseline / HOUR), stop)


def evaluate_rules(
    session: Session,
    rules: Sequence[Rule],
    *,
    model_version: str,
    now: datetime,
    reader: RollupReader,
    firing: Collection[tuple[str, ScopeKey]] = (),
) -> list[Observation]:
    """Test every scope each rule selects that has enough volume, plus every (rule, scope) in ``firing``."""
    if not rules:
        return []
    spans = {rule.name: rule_spans(rule, now) for rule in rules}
    windows = sorted({w for w, _ in spans.values()})
    kinds = {rule.scope_kind for rule in rules} | {"all"}
    window_sums = dict(
        zip(windows, reader.window_sums(session, model_version=model_version, spans=windows, kinds=kinds), strict=True)
    )

    firing_by_rule: dict[str, set[ScopeKey]] = {}
    for name, key in firing:
        firing_by_rule.setdefault(name, set()).add(key)
    candidates: dict[str, list[ScopeKey]] = {}
    for rule in rules:
        in_window = window_sums[spans[rule.name][0]]
        chosen = {
            key
            for key, counts in in_window.items()
            if key[0] == rule.scope_kind and counts.total >= rule.min_volume and rule.selects(key[1])
        }
        chosen |= {k for k in firing_by_rule.get(rule.name, ()) if k[0] == rule.scope_kind}
        candidates[rule.name] = sorted(chosen)

    # Baselines only for the scopes that can fire or resolve, and always for the overall prior.
    needed = {key for keys in candidates.values() for key in keys} | {_ALL}
    baselines = sorted({b for _, b in spans.values()})
    baseline_sums = dict(
        zip(
            baselines,
            reader.baseline_sums(session, model_version=model_version, ranges=baselines, scopes=needed),
            strict=True,
        )
    )

    out: list[Observation] = []
    for rule in rules:
        window, baseline = spans[rule.name]
        in_window, in_baseline = window_sums[window], baseline_sums[baseline]
        prior = overall_prior(in_baseline.get(_ALL, _EMPTY), rule.direction)
        params = spike_params(rule)
        for key in candidates[rule.name]:
            stats = assess(
                in_window.get(key, _EMPTY),
                in_baseline.get(key, _EMPTY),
                sentiment=rule.direction,
                prior=prior,
                params=params,
            )
            out.append(Observation(rule, key[0], key[1], window, baseline.span, stats))
    return out
