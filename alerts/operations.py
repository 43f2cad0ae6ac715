"""Operator actions on alerts, for the CLI and the dashboard: list, history, acknowledge, silence, unsilence.

Keyword-only functions taking a session; the caller's transaction commits. ``now`` is a
parameter so callers (and tests) decide what time it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from finsent.alerts.dispatch import active_silences
from finsent.alerts.matchers import Matcher, parse_matcher
from finsent.alerts.routing import silenced
from finsent.tables import Alert, AlertEvent, Silence

__all__ = [
    "AlertView",
    "EventView",
    "SilenceView",
    "ack",
    "alert_history",
    "get_alert",
    "list_alerts",
    "list_silences",
    "silence",
    "silence_alert",
    "unsilence",
]


@dataclass(frozen=True)
class AlertView:
    """An alert as operators see it."""

    id: int
    rule: str
    scope_kind: str
    scope: str
    severity: str
    state: str  # firing | resolved
    labels: dict[str, str]
    model_version: str
    started_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    silenced: bool
    value: dict[str, Any]  # latest statistics: rate, volume, baseline_rate, z, lift, window_start, ...
    peak: dict[str, Any]


@dataclass(frozen=True)
class EventView:
    """One entry of an alert's history."""

    at: datetime
    kind: str  # fired | resolved | acked | silenced | notified
    actor: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class SilenceView:
    """A silence and whether it is in force."""

    id: int
    matchers: list[str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    expired_by: str | None
    active: bool


def _view(alert: Alert, silences: list) -> AlertView:  # type: ignore[type-arg]
    return AlertView(
        id=alert.id,
        rule=alert.rule,
        scope_kind=alert.scope_kind,
        scope=alert.scope,
        severity=alert.severity,
        state=alert.state,
        labels=dict(alert.labels),
        model_version=alert.model_version,
        started_at=alert.started_at,
        updated_at=alert.updated_at,
        resolved_at=alert.resolved_at,
        acked_at=alert.acked_at,
        acked_by=alert.acked_by,
        silenced=silenced(alert.labels, silences),
        value=dict(alert.value),
        peak=dict(alert.peak),
    )


def _silence_view(row: Silence, now: datetime) -> SilenceView:
    return SilenceView(
        id=row.id,
        matchers=list(row.matchers),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        comment=row.comment,
        expired_by=row.expired_by,
        active=row.starts_at <= now < row.ends_at,
    )


def list_alerts(
    session: Session,
    *,
    now: datetime,
    state: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[AlertView]:
    """Alerts, firing first, newest first; ``state`` is firing or resolved, ``since`` bounds started_at."""
    query = select(Alert)
    if state is not None:
        if state not in ("firing", "resolved"):
            raise ValueError(f"state must be firing or resolved, not {state!r}")
        query = query.where(Alert.state == state)
    if since is not None:
        query = query.where(Alert.started_at >= since)
    query = query.order_by(case((Alert.state == "firing", 0), else_=1), Alert.started_at.desc(), Alert.id.desc())
    silences = active_silences(session, now)
    return [_view(a, silences) for a in session.scalars(query.limit(limit))]


def get_alert(session: Session, *, alert_id: int, now: datetime) -> AlertView:
    """One alert; LookupError when there is no such alert."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise LookupError(f"no alert {alert_id}")
    return _view(alert, active_silences(session, now))


def alert_history(session: Session, *, alert_id: int) -> list[EventView]:
    """What happened to an alert, oldest first."""
    if session.get(Alert, alert_id) is None:
        raise LookupError(f"no alert {alert_id}")
    rows = session.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.at, AlertEvent.id))
    return [EventView(r.at, r.kind, r.actor, dict(r.detail)) for r in rows]


def ack(session: Session, *, alert_id: int, by: str, now: datetime, comment: str = "") -> AlertView:
    """Acknowledge a firing alert: it stops notifying (no repeats, no resolve notice). Idempotent."""
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise LookupError(f"no alert {alert_id}")
    if alert.state != "firing":
        raise ValueError(f"alert {alert_id} is already resolved")
    if alert.acked_at is None:
        alert.acked_at, alert.acked_by = now, by
        session.add(AlertEvent(alert_id=alert.id, at=now, kind="acked", actor=by, detail={"comment": comment}))
    return _view(alert, active_silences(session, now))


def silence(
    session: Session,
    *,
    matchers: Sequence[str],
    ends_at: datetime,
    by: str,
    now: datetime,
    starts_at: datetime | None = None,
    comment: str = "",
) -> SilenceView:
    """Mute every alert whose labels match all ``matchers`` (e.g. ``ticker="ACME"``) until ``ends_at``."""
    if not matchers:
        raise ValueError("a silence needs at least one matcher")
    parsed = [parse_matcher(m) for m in matchers]  # ValueError on a malformed one
    starts = starts_at or now
    if ends_at <= starts:
        raise ValueError("a silence must end after it starts")
    row = Silence(
        matchers=[str(m) for m in parsed],
        starts_at=starts,
        ends_at=ends_at,
        created_by=by,
        comment=comment,
        created_at=now,
    )
    session.add(row)
    session.flush()
    if starts <= now:
        for alert in session.scalars(select(Alert).where(Alert.state == "firing")):
            if silenced(alert.labels, [parsed]):
                detail = {"silence_id": row.id, "until": ends_at.isoformat(), "comment": comment}
                session.add(AlertEvent(alert_id=alert.id, at=now, kind="silenced", actor=by, detail=detail))
    return _silence_view(row, now)


def silence_alert(
    session: Session, *, alert_id: int, ends_at: datetime, by: str, now: datetime, comment: str = ""
) -> SilenceView:
    """Silence this alert's rule on this scope (matchers: alertname, scope_kind, scope) until ``ends_at``."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise LookupError(f"no alert {alert_id}")
    matchers = [str(Matcher(name, "=", alert.labels[name])) for name in ("alertname", "scope_kind", "scope")]
    return silence(session, matchers=matchers, ends_at=ends_at, by=by, now=now, comment=comment)


def unsilence(session: Session, *, silence_id: int, by: str, now: datetime) -> SilenceView:
    """Expire a silence now (kept for the record, as Alertmanager does)."""
    row = session.get(Silence, silence_id, with_for_update=True)
    if row is None:
        raise LookupError(f"no silence {silence_id}")
    if row.ends_at > now:
        row.ends_at = max(now, row.starts_at)
        row.expired_by = by
    return _silence_view(row, now)


def list_silences(session: Session, *, now: datetime, include_expired: bool = False) -> list[SilenceView]:
    """Silences in force or scheduled (and, with ``include_expired``, past ones), newest first."""
    query = select(Silence).order_by(Silence.created_at.desc(), Silence.id.desc())
    if not include_expired:
        query = query.where(Silence.ends_at > now)
    return [_silence_view(r, now) for r in session.scalars(query)]
