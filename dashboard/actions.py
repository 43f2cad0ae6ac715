"""Alert reads and operator actions for the Alerts page: the alerts package's functions, one transaction each.

The CLI (``finsent alerts ack|silence|unsilence``) calls the same ``alerts.operations``
functions, so an acknowledgement from the dashboard and one from a terminal are the same
event in the alert's history.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from finsent.alerts import operations
from finsent.alerts.operations import AlertView, EventView, SilenceView
from finsent.alerts.rules import parse_duration
from finsent.db import make_sessionmaker, session_scope

__all__ = [
    "acknowledge",
    "alert_history",
    "expire_silence",
    "list_alerts",
    "list_silences",
    "silence_alert",
    "silence_matching",
]


def list_alerts(
    engine: Engine,
    *,
    now: datetime,
    state: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
) -> list[AlertView]:
    """Alerts, firing first, newest first."""
    with make_sessionmaker(engine)() as session:
        return operations.list_alerts(session, now=now, state=state, since=since, limit=limit)


def alert_history(engine: Engine, *, alert_id: int) -> list[EventView]:
    """What happened to one alert, oldest first."""
    with make_sessionmaker(engine)() as session:
        return operations.alert_history(session, alert_id=alert_id)


def list_silences(engine: Engine, *, now: datetime, include_expired: bool = False) -> list[SilenceView]:
    """Silences in force or scheduled (and past ones when asked)."""
    with make_sessionmaker(engine)() as session:
        return operations.list_silences(session, now=now, include_expired=include_expired)


def acknowledge(engine: Engine, *, alert_id: int, by: str, now: datetime, comment: str = "") -> AlertView:
    """Acknowledge a firing alert (LookupError / ValueError as the CLI gets them)."""
    with session_scope(make_sessionmaker(engine)) as session:
        return operations.ack(session, alert_id=alert_id, by=by, now=now, comment=comment)


def silence_alert(
    engine: Engine, *, alert_id: int, duration: str, by: str, now: datetime, comment: str = ""
) -> SilenceView:
    """Silence this alert's rule on its scope for ``duration`` (e.g. '2h')."""
    ends_at = now + parse_duration(duration)
    with session_scope(make_sessionmaker(engine)) as session:
        return operations.silence_alert(
            session, alert_id=alert_id, ends_at=ends_at, by=by, now=now, comment=comment
        )


def silence_matching(
    engine: Engine, *, matchers: list[str], duration: str, by: str, now: datetime, comment: str = ""
) -> SilenceView:
    """Silence every alert whose labels match all ``matchers`` (e.g. 'ticker="ACME"') for ``duration``."""
    ends_at = now + parse_duration(duration)
    with session_scope(make_sessionmaker(engine)) as session:
        return operations.silence(
            session, matchers=matchers, ends_at=ends_at, by=by, now=now, comment=comment
        )


def expire_silence(engine: Engine, *, silence_id: int, by: str, now: datetime) -> SilenceView:
    """End a silence now."""
    with session_scope(make_sessionmaker(engine)) as session:
        return operations.unsilence(session, silence_id=silence_id, by=by, now=now)
