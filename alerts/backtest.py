"""Replay the rules over stored history: what would have fired, when, and for how long.

Evaluates at every step of [since, until) with only the rollups published before that instant
(the same ``evaluate_rules`` and ``decide`` as live), and keeps the alert state in memory, so
the database is only read. Rollups are in publication time and do not remember when each
document arrived: a document that arrived late is visible from its publication minute on,
a little earlier than it was live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from finsent.alerts.counts import RollupReader
from finsent.alerts.detect import SpikeStats
from finsent.alerts.evaluate import evaluate_rules
from finsent.alerts.rules import AlertsConfig
from finsent.alerts.state import Action, decide
from finsent.timegrid import MINUTE, floor_time

__all__ = ["BacktestAlert", "backtest"]


@dataclass
class BacktestAlert:
    """One alert the rules would have raised."""

    rule: str
    scope_kind: str
    scope: str
    severity: str
    fired_at: datetime
    resolved_at: datetime | None
    first: SpikeStats
    peak: SpikeStats


def backtest(
    session: Session,
    config: AlertsConfig,
    *,
    model_version: str,
    since: datetime,
    until: datetime,
    step: timedelta = timedelta(minutes=5),
    reader: RollupReader | None = None,
) -> list[BacktestAlert]:
    """Every alert that would have fired in [since, until), in firing order (still-open ones unresolved)."""
    if step < timedelta(minutes=1):
        raise ValueError("step must be at least one minute")
    if until <= since:
        raise ValueError("until must be after since")
    reader = reader or RollupReader()
    rules = {r.name: r for r in config.rules}
    open_: dict[tuple[str, str, str], BacktestAlert] = {}
    last_resolved: dict[tuple[str, str, str], datetime] = {}
    out: list[BacktestAlert] = []
    now = floor_time(since, MINUTE)
    while now < until:
        found = evaluate_rules(
            session,
            config.rules,
            model_version=model_version,
            now=now,
            reader=reader,
            firing=[(r, (k, s)) for r, k, s in open_],
        )
        seen = {(o.rule.name, o.scope_kind, o.scope): o for o in found}
        for key, alert in list(open_.items()):
            obs = seen.get(key)
            action = decide(firing=True, stats=obs.stats if obs else None, last_resolved_at=None, cooldown=timedelta(0), now=now)
            if action is Action.KEEP and obs is not None:
                if obs.stats.z > alert.peak.z:
                    alert.peak = obs.stats
                continue
            alert.resolved_at = now
            last_resolved[key] = now
            del open_[key]
        for key, obs in sorted(seen.items()):
            if key in open_ or not obs.stats.spike:
                continue
            action = decide(
                firing=False,
                stats=obs.stats,
                last_resolved_at=last_resolved.get(key),
                cooldown=rules[key[0]].cooldown,
                now=now,
            )
            if action is Action.FIRE:
                alert = BacktestAlert(key[0], key[1], key[2], obs.rule.severity, now, None, obs.stats, obs.stats)
                open_[key] = alert
                out.append(alert)
        now += step
    return out
