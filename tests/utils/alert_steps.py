"""Building blocks for state and dispatcher tests: observations of a rule on a scope, spiking or calm."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from finsent.alerts.counts import Span
from finsent.alerts.detect import SpikeStats
from finsent.alerts.evaluate import Observation
from finsent.alerts.rules import AlertsConfig, Rule
from finsent.alerts.state import Transition, apply_observations
from finsent.db import session_scope
from finsent.timegrid import MINUTE, floor_time

SPIKE = SpikeStats(hits=21, volume=24, rate=0.875, baseline_hits=300, baseline_volume=1000, baseline_rate=0.3,
                   z=6.2, lift=2.3, spike=True, holds=True)
CALM = SpikeStats(hits=3, volume=12, rate=0.25, baseline_hits=300, baseline_volume=1000, baseline_rate=0.3,
                  z=-0.4, lift=0.3, spike=False, holds=False)


def observe(rule: Rule, scope: str, now: datetime, stats: SpikeStats) -> Observation:
    """What evaluate_rules would report for one scope at ``now``."""
    end = floor_time(now, MINUTE)
    window = Span(end - rule.window, end)
    return Observation(rule, rule.scope_kind, scope, window, Span(window.start - rule.baseline, window.start), stats)


def step(
    factory: sessionmaker[Session], config: AlertsConfig, now: datetime, spiking: dict[str, list[str]]
) -> list[Transition]:
    """One state update: the rules named in ``spiking`` spike on those scopes, everything else is calm."""
    observations = []
    for rule in config.rules:
        for scope in spiking.get(rule.name, []):
            observations.append(observe(rule, scope, now, SPIKE))
    with session_scope(factory) as s:
        return apply_observations(s, observations, rules=config.rules, model_version="v1", now=now)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
