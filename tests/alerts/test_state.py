"""Alert state: one alert per persisting spike, resolve when it ends, cooldown, history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from finsent.alerts.rules import AlertsConfig
from finsent.alerts.state import Action, alert_labels, decide, fingerprint
from finsent.db import session_scope
from finsent.tables import Alert, AlertEvent
from tests.utils.alert_history import T0
from tests.utils.alert_steps import CALM, SPIKE, minutes, step

CONFIG = AlertsConfig.model_validate(
    {"rules": [{"name": "spike", "scope_kind": "ticker", "cooldown": "30m", "labels": {"sector": "tech"}}]}
)


@pytest.mark.parametrize(
    ("firing", "stats", "resolved_ago", "expected"),
    [
        (False, SPIKE, None, Action.FIRE),
        (False, CALM, None, Action.NONE),
        (False, None, None, Action.NONE),
        (False, SPIKE, timedelta(minutes=10), Action.COOLDOWN),
        (False, SPIKE, timedelta(minutes=31), Action.FIRE),
        (True, SPIKE, None, Action.KEEP),
        (True, CALM, None, Action.RESOLVE),
        (True, None, None, Action.RESOLVE),
    ],
)
def test_decide(firing: bool, stats, resolved_ago, expected: Action) -> None:  # type: ignore[no-untyped-def]
    last = T0 - resolved_ago if resolved_ago else None
    assert decide(firing=firing, stats=stats, last_resolved_at=last, cooldown=timedelta(minutes=30), now=T0) is expected


def test_labels_carry_rule_scope_and_extra_labels() -> None:
    labels = alert_labels(CONFIG.rules[0], "ticker", "ACME")
    assert labels == {"alertname": "spike", "scope_kind": "ticker", "scope": "ACME", "ticker": "ACME",
                      "direction": "negative", "severity": "warning", "sector": "tech"}
    assert fingerprint("spike", "ticker", "ACME") != fingerprint("spike", "ticker", "ACMF")


def test_a_persisting_spike_is_one_alert_that_resolves_then_cooldown_holds_back_a_relapse(
    db_factory: sessionmaker[Session],
) -> None:
    fired = step(db_factory, CONFIG, T0, {"spike": ["ACME"]})
    assert [(t.kind, t.scope) for t in fired] == [("fired", "ACME")]
    for i in range(1, 6):  # still spiking: nothing new
        assert step(db_factory, CONFIG, T0 + minutes(i), {"spike": ["ACME"]}) == []
    resolved = step(db_factory, CONFIG, T0 + minutes(6), {})
    assert [(t.kind, t.scope) for t in resolved] == [("resolved", "ACME")]
    assert step(db_factory, CONFIG, T0 + minutes(20), {"spike": ["ACME"]}) == []  # cooldown: 30 min after resolve
    again = step(db_factory, CONFIG, T0 + minutes(40), {"spike": ["ACME"]})
    assert [t.kind for t in again] == ["fired"]
    with db_factory() as s:
        alerts = list(s.scalars(select(Alert).order_by(Alert.id)))
        assert [(a.state, a.started_at, a.resolved_at) for a in alerts] == [
            ("resolved", T0, T0 + minutes(6)),
            ("firing", T0 + minutes(40), None),
        ]
        assert alerts[0].labels["ticker"] == "ACME" and alerts[0].value["z"] == pytest.approx(SPIKE.z)
        events = list(s.scalars(select(AlertEvent.kind).where(AlertEvent.alert_id == alerts[0].id).order_by(AlertEvent.id)))
        assert events == ["fired", "resolved"]


def test_alerts_of_a_removed_rule_resolve(db_factory: sessionmaker[Session]) -> None:
    step(db_factory, CONFIG, T0, {"spike": ["ACME"]})
    resolved = step(db_factory, AlertsConfig(), T0 + minutes(1), {})
    assert [t.kind for t in resolved] == ["resolved"]
    with db_factory() as s:
        event = s.scalars(select(AlertEvent).where(AlertEvent.kind == "resolved")).one()
        assert event.detail["reason"] == "rule removed from the configuration"


def test_the_database_refuses_two_firing_alerts_for_one_rule_and_scope(db_factory: sessionmaker[Session]) -> None:
    step(db_factory, CONFIG, T0, {"spike": ["ACME"]})
    with pytest.raises(IntegrityError):
        with session_scope(db_factory) as s:
            original = s.scalars(select(Alert)).one()
            s.add(Alert(**{c: getattr(original, c) for c in ("fingerprint", "rule", "scope_kind", "scope", "severity",
                                                           "labels", "state", "model_version", "started_at",
                                                           "updated_at", "value", "peak")}))
