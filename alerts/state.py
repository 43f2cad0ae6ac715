"""Alert state: a spike fires one alert, which stays firing while the spike persists and then resolves.

``decide`` is the pure state machine (also used by the backtest); ``apply_observations`` runs it
against the ``alerts`` table and writes the history (``alert_events``) in the caller's transaction.
"""

from __future__ import annotations

import enum
import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from finsent.alerts.detect import SpikeStats
from finsent.alerts.evaluate import Observation
from finsent.alerts.rules import Rule
from finsent.tables import Alert, AlertEvent

__all__ = [
    "Action",
    "Transition",
    "alert_labels",
    "apply_observations",
    "decide",
    "fingerprint",
    "observation_value",
]

log = logging.getLogger(__name__)


class Action(enum.Enum):
    """What one cycle does to one (rule, scope)."""

    FIRE = "fire"
    KEEP = "keep"
    RESOLVE = "resolve"
    COOLDOWN = "cooldown"  # would fire, but the last alert resolved too recently
    NONE = "none"


def decide(
    *,
    firing: bool,
    stats: SpikeStats | None,
    last_resolved_at: datetime | None,
    cooldown: timedelta,
    now: datetime,
) -> Action:
    """The next step for one (rule, scope), given whether it is firing and this cycle's statistics."""
    if firing:
        return Action.KEEP if stats is not None and stats.holds else Action.RESOLVE
    if stats is None or not stats.spike:
        return Action.NONE
    if last_resolved_at is not None and now - last_resolved_at < cooldown:
        return Action.COOLDOWN
    return Action.FIRE


def fingerprint(rule: str, scope_kind: str, scope: str) -> str:
    """The identity of 'the same alert' across cycles."""
    return hashlib.sha256(f"{rule}\x1f{scope_kind}\x1f{scope}".encode()).hexdigest()[:32]


def alert_labels(rule: Rule, scope_kind: str, scope: str) -> dict[str, str]:
    """The labels routes, silences and inhibit rules match on."""
    labels = {
        **rule.labels,
        "alertname": rule.name,
        "scope_kind": scope_kind,
        "scope": scope,
        "direction": rule.direction,
        "severity": rule.severity,
    }
    if scope_kind != "all":
        labels[scope_kind] = scope  # so `ticker="ACME"` matches, as operators expect
    return labels


def observation_value(obs: Observation, model_version: str) -> dict[str, Any]:
    """What an alert records about one evaluation (JSON-ready)."""
    return {
        **obs.stats.as_dict(),
        "window_start": obs.window.start.isoformat(),
        "window_end": obs.window.end.isoformat(),
        "baseline_start": obs.baseline.start.isoformat(),
        "baseline_end": obs.baseline.end.isoformat(),
        "model_version": model_version,
    }


@dataclass(frozen=True)
class Transition:
    """An alert that fired or resolved in this cycle."""

    alert_id: int
    kind: str  # fired | resolved
    rule: str
    scope_kind: str
    scope: str


def _last_resolved(session: Session, fingerprints: Iterable[str]) -> dict[str, datetime]:
    fps = list(fingerprints)
    if not fps:
        return {}
    rows = session.execute(
        select(Alert.fingerprint, func.max(Alert.resolved_at))
        .where(Alert.fingerprint.in_(fps), Alert.state == "resolved")
        .group_by(Alert.fingerprint)
    )
    return {fp: at for fp, at in rows if at is not None}


def apply_observations(
    session: Session,
    observations: Sequence[Observation],
    *,
    rules: Sequence[Rule],
    model_version: str,
    now: datetime,
    firing_alerts: Sequence[Alert] | None = None,
) -> list[Transition]:
    """Fire, keep or resolve alerts for this cycle's observations; the caller's transaction commits.

    ``firing_alerts`` saves a query when the caller already loaded them (in this session).
    """
    if firing_alerts is None:
        firing_alerts = session.scalars(select(Alert).where(Alert.state == "firing")).all()
    firing = {a.fingerprint: a for a in firing_alerts}
    by_fp = {fingerprint(o.rule.name, o.scope_kind, o.scope): o for o in observations}
    rule_names = {r.name for r in rules}
    transitions: list[Transition] = []

    for fp, alert in firing.items():
        obs = by_fp.get(fp)
        if alert.rule not in rule_names:
            reason = "rule removed from the configuration"
        else:
            stats = obs.stats if obs is not None else None
            action = decide(firing=True, stats=stats, last_resolved_at=None, cooldown=timedelta(0), now=now)
            if action is Action.KEEP and obs is not None:
                value = observation_value(obs, model_version)
                alert.value, alert.updated_at, alert.model_version = value, now, model_version
                if obs.stats.z > float(alert.peak.get("z", 0.0)):
                    alert.peak = value
                continue
            reason = "spike over"
            if obs is not None:
                alert.value = observation_value(obs, model_version)
        _resolve(session, alert, now, reason=reason)
        transitions.append(Transition(alert.id, "resolved", alert.rule, alert.scope_kind, alert.scope))

    spiking = {fp: o for fp, o in by_fp.items() if fp not in firing and o.stats.spike}
    resolved_at = _last_resolved(session, spiking)
    for fp, obs in sorted(spiking.items(), key=lambda item: (item[1].rule.name, item[1].scope_kind, item[1].scope)):
        action = decide(
            firing=False, stats=obs.stats, last_resolved_at=resolved_at.get(fp), cooldown=obs.rule.cooldown, now=now
        )
        if action is Action.COOLDOWN:
            log.info("spike held back by cooldown", extra={"rule": obs.rule.name, "scope": obs.scope})
            continue
        value = observation_value(obs, model_version)
        alert = Alert(
            fingerprint=fp,
            rule=obs.rule.name,
            scope_kind=obs.scope_kind,
            scope=obs.scope,
            severity=obs.rule.severity,
            labels=alert_labels(obs.rule, obs.scope_kind, obs.scope),
            state="firing",
            model_version=model_version,
            started_at=now,
            updated_at=now,
            value=value,
            peak=value,
        )
        session.add(alert)
        session.flush()  # the id, for the event and the transition
        session.add(AlertEvent(alert_id=alert.id, at=now, kind="fired", detail=value))
        log.warning(
            "alert fired",
            extra={"alert_id": alert.id, "rule": alert.rule, "scope_kind": alert.scope_kind, "scope": alert.scope},
        )
        transitions.append(Transition(alert.id, "fired", alert.rule, alert.scope_kind, alert.scope))
    return transitions


def _resolve(session: Session, alert: Alert, now: datetime, *, reason: str) -> None:
    alert.state = "resolved"
    alert.resolved_at = now
    alert.updated_at = now
    session.add(AlertEvent(alert_id=alert.id, at=now, kind="resolved", detail={"reason": reason, **alert.value}))
    log.warning(
        "alert resolved",
        extra={"alert_id": alert.id, "rule": alert.rule, "scope_kind": alert.scope_kind, "scope": alert.scope},
    )
