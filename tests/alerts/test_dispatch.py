"""The dispatcher: Alertmanager's group timers, send_resolved, silences, acknowledgements and inhibition.

Only the outbox is checked here (what would be sent, and when); sending is in test_outbox and
test_end_to_end.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from finsent.alerts.dispatch import Dispatcher, resolve_integrations
from finsent.alerts.operations import ack, silence, unsilence
from finsent.alerts.outbox import RetryPolicy
from finsent.alerts.rules import AlertsConfig
from finsent.db import session_scope
from finsent.settings import AlertSettings
from finsent.tables import Alert, NotificationGroup, OutboxMessage
from tests.utils.alert_history import T0
from tests.utils.alert_steps import minutes, step

SETTINGS = AlertSettings(email_to=["desk@example.test"], slack_webhook_url=SecretStr("http://127.0.0.1:9/hook"))
SECONDS = timedelta(seconds=1)


def config(**extra: object) -> AlertsConfig:
    base = {
        "rules": [
            {"name": "spike", "scope_kind": "ticker", "cooldown": "0s"},
            {"name": "watch", "scope_kind": "ticker", "severity": "critical", "cooldown": "0s"},
        ],
        "route": {"receiver": "desk", "group_by": ["scope_kind", "scope"], "group_wait": "30s",
                  "group_interval": "5m", "repeat_interval": "1h"},
        "receivers": [
            {"name": "desk", "email_configs": [{"send_resolved": True}], "slack_configs": [{"send_resolved": False}]}
        ],
    }
    return AlertsConfig.model_validate({**base, **extra})


def dispatcher(cfg: AlertsConfig) -> Dispatcher:
    return Dispatcher(
        config=cfg,
        integrations=resolve_integrations(cfg, SETTINGS),
        notifiers={},
        dashboard_url="http://dash.test",
        policy=RetryPolicy(),
    )


def plan(factory: sessionmaker[Session], d: Dispatcher, now: datetime) -> list[tuple[str, str]]:
    """Run the planner at ``now``; (integration, subject-or-text) of each new outbox row."""
    with session_scope(factory) as s:
        ids = d.plan(s, now)
    with factory() as s:
        rows = [s.get(OutboxMessage, i) for i in ids]
        return [(r.integration, r.payload.get("subject") or r.payload["body"]["text"]) for r in rows if r]


def test_group_wait_interval_repeat_and_resolve(db_factory: sessionmaker[Session]) -> None:
    cfg = config()
    d = dispatcher(cfg)
    step(db_factory, cfg, T0, {"spike": ["ACME"]})
    assert plan(db_factory, d, T0) == []  # group_wait: gather what fires together
    assert plan(db_factory, d, T0 + 29 * SECONDS) == []
    first = plan(db_factory, d, T0 + 30 * SECONDS)
    assert [i for i, _ in first] == ["email", "slack"]
    assert all(text.startswith("[FIRING:1] negative sentiment spike on ticker ACME") for _, text in first)

    step(db_factory, cfg, T0 + minutes(1), {"spike": ["ACME", "MSFT"]})  # MSFT: a group of its own
    assert plan(db_factory, d, T0 + minutes(1)) == []
    msft = plan(db_factory, d, T0 + minutes(1) + 30 * SECONDS)
    assert len(msft) == 2 and "MSFT" in msft[0][1]
    for m in range(2, 60):  # nothing new: no notifications until repeat_interval
        step(db_factory, cfg, T0 + minutes(m), {"spike": ["ACME", "MSFT"]})
        assert plan(db_factory, d, T0 + minutes(m) + 30 * SECONDS) == [], m
    step(db_factory, cfg, T0 + minutes(60), {"spike": ["ACME", "MSFT"]})
    repeat = plan(db_factory, d, T0 + minutes(60) + 30 * SECONDS)  # the ACME group ticks at :30 past each 5 min
    assert [i for i, _ in repeat] == ["email", "slack"] and "ACME" in repeat[0][1]

    step(db_factory, cfg, T0 + minutes(62), {"spike": ["MSFT"]})  # ACME ends
    msft_repeat = plan(db_factory, d, T0 + minutes(62))  # MSFT's hour is up; ACME's group waits for its tick
    assert len(msft_repeat) == 2 and all("MSFT" in text for _, text in msft_repeat)
    resolved = plan(db_factory, d, T0 + minutes(65) + 30 * SECONDS)
    assert resolved == [("email", "[RESOLVED:1] negative sentiment spike on ticker ACME (warning)")]  # slack: send_resolved false
    with db_factory() as s:
        groups = list(s.scalars(select(NotificationGroup)))
        assert [g.labels["scope"] for g in groups] == ["MSFT"]  # ACME's group is done

    step(db_factory, cfg, T0 + minutes(70), {"spike": ["MSFT", "ACME"]})  # ACME again: a fresh group, fresh wait
    assert plan(db_factory, d, T0 + minutes(70)) == []
    assert len(plan(db_factory, d, T0 + minutes(70) + 30 * SECONDS)) == 2


def test_alerts_of_one_scope_share_a_notification(sqlite_factory: sessionmaker[Session]) -> None:
    cfg = config()
    d = dispatcher(cfg)
    step(sqlite_factory, cfg, T0, {"spike": ["ACME"]})
    step(sqlite_factory, cfg, T0 + 10 * SECONDS, {"spike": ["ACME"], "watch": ["ACME"]})
    sent = plan(sqlite_factory, d, T0 + 30 * SECONDS)
    assert len(sent) == 2 and sent[0][1].startswith("[FIRING:2]")


def test_inhibited_warning_stays_quiet_while_the_critical_fires(sqlite_factory: sessionmaker[Session]) -> None:
    cfg = config(
        inhibit_rules=[{"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
                        "equal": ["scope"]}],
        route={"receiver": "desk", "group_by": ["alertname", "scope"], "group_wait": "0s"},
    )
    d = dispatcher(cfg)
    step(sqlite_factory, cfg, T0, {"spike": ["ACME", "MSFT"], "watch": ["ACME"]})
    subjects = sorted(text for kind, text in plan(sqlite_factory, d, T0) if kind == "email")
    assert len(subjects) == 2
    assert "ACME (critical)" in subjects[0] and "MSFT (warning)" in subjects[1]  # ACME's warning is inhibited


def test_silence_mutes_until_it_is_lifted(sqlite_factory: sessionmaker[Session]) -> None:
    cfg = config()
    d = dispatcher(cfg)
    with session_scope(sqlite_factory) as s:
        sil = silence(s, matchers=['ticker="ACME"'], ends_at=T0 + minutes(30), by="ops", now=T0, comment="known")
    step(sqlite_factory, cfg, T0, {"spike": ["ACME", "MSFT"]})
    sent = plan(sqlite_factory, d, T0 + 30 * SECONDS)
    assert sent and all("MSFT" in text for _, text in sent)
    assert plan(sqlite_factory, d, T0 + minutes(6)) == []
    with session_scope(sqlite_factory) as s:
        unsilence(s, silence_id=sil.id, by="ops", now=T0 + minutes(7))
    late = plan(sqlite_factory, d, T0 + minutes(7))  # firing for 7 min, past its group_wait: told at once
    assert late and all("ACME" in text for _, text in late)


def test_an_acknowledged_alert_stops_notifying(sqlite_factory: sessionmaker[Session]) -> None:
    cfg = config(route={"receiver": "desk", "group_wait": "0s", "group_interval": "1m", "repeat_interval": "10m"})
    d = dispatcher(cfg)
    step(sqlite_factory, cfg, T0, {"spike": ["ACME"]})
    assert len(plan(sqlite_factory, d, T0)) == 2
    with session_scope(sqlite_factory) as s:
        alert = s.scalars(select(Alert)).one()
        ack(s, alert_id=alert.id, by="ana", now=T0 + minutes(1), comment="on it")
    for m in range(2, 30):
        assert plan(sqlite_factory, d, T0 + minutes(m)) == [], m  # no repeats
    step(sqlite_factory, cfg, T0 + minutes(30), {})
    assert plan(sqlite_factory, d, T0 + minutes(31)) == []  # and no resolve notice
