"""Operator actions (the dashboard calls these) and the `finsent alerts` commands around them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from finsent.alerts.operations import (
    ack,
    alert_history,
    get_alert,
    list_alerts,
    list_silences,
    silence,
    silence_alert,
    unsilence,
)
from finsent.alerts.rules import AlertsConfig
from finsent.cli import app
from finsent.db import session_scope
from finsent.messages import utcnow
from tests.utils.alert_history import T0, flat_stream, negative_burst, seed_history
from tests.utils.alert_steps import minutes, step

CONFIG = AlertsConfig.model_validate({"rules": [{"name": "spike", "scope_kind": "ticker", "cooldown": "0s"}]})


def test_list_ack_silence_unsilence(sqlite_factory: sessionmaker[Session]) -> None:
    step(sqlite_factory, CONFIG, T0, {"spike": ["ACME", "MSFT"]})
    step(sqlite_factory, CONFIG, T0 + minutes(5), {"spike": ["MSFT"]})  # ACME resolves
    step(sqlite_factory, CONFIG, T0 + minutes(6), {"spike": ["MSFT", "KO"]})
    with session_scope(sqlite_factory) as s:
        alerts = list_alerts(s, now=T0 + minutes(7))
        assert [(a.scope, a.state) for a in alerts] == [("KO", "firing"), ("MSFT", "firing"), ("ACME", "resolved")]
        assert [a.scope for a in list_alerts(s, now=T0, state="resolved")] == ["ACME"]
        assert [a.scope for a in list_alerts(s, now=T0, since=T0 + minutes(1))] == ["KO"]
        with pytest.raises(ValueError):
            list_alerts(s, now=T0, state="bogus")

        msft = next(a for a in alerts if a.scope == "MSFT")
        acked = ack(s, alert_id=msft.id, by="ana", now=T0 + minutes(8), comment="looking")
        assert (acked.acked_by, acked.acked_at) == ("ana", T0 + minutes(8))
        assert ack(s, alert_id=msft.id, by="bob", now=T0 + minutes(9)).acked_by == "ana"  # idempotent
        with pytest.raises(ValueError, match="resolved"):
            ack(s, alert_id=alerts[2].id, by="ana", now=T0)
        with pytest.raises(LookupError):
            ack(s, alert_id=999, by="ana", now=T0)

        ko = alerts[0]
        made = silence_alert(s, alert_id=ko.id, ends_at=T0 + minutes(60), by="ana", now=T0 + minutes(10), comment="earnings day")
        assert made.matchers == ['alertname="spike"', 'scope_kind="ticker"', 'scope="KO"'] and made.active
        assert get_alert(s, alert_id=ko.id, now=T0 + minutes(11)).silenced
        assert not get_alert(s, alert_id=ko.id, now=T0 + minutes(61)).silenced  # it ran out
        with pytest.raises(ValueError):
            silence(s, matchers=[], ends_at=T0 + minutes(60), by="ana", now=T0)
        with pytest.raises(ValueError):
            silence(s, matchers=["not a matcher"], ends_at=T0 + minutes(60), by="ana", now=T0)
        with pytest.raises(ValueError, match="end after"):
            silence(s, matchers=['ticker="KO"'], ends_at=T0, by="ana", now=T0 + minutes(1))

        lifted = unsilence(s, silence_id=made.id, by="bob", now=T0 + minutes(12))
        assert not lifted.active and lifted.expired_by == "bob"
        assert list_silences(s, now=T0 + minutes(13)) == []
        assert [x.id for x in list_silences(s, now=T0 + minutes(13), include_expired=True)] == [made.id]

        kinds = [e.kind for e in alert_history(s, alert_id=msft.id)]
        assert kinds == ["fired", "acked"]
        assert [e.kind for e in alert_history(s, alert_id=ko.id)] == ["fired", "silenced"]


def test_the_alerts_commands(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from finsent.db import make_engine, make_sessionmaker

    engine = make_engine(sqlite_url)
    factory = make_sessionmaker(engine)
    now = utcnow().replace(second=0, microsecond=0)  # the CLI runs on the real clock
    seed_history(factory, flat_stream(now - timedelta(hours=6), now - timedelta(minutes=40), per_minute=4, seed=1)
                 + negative_burst(now - timedelta(minutes=12), ticker="ACME", count=24, minutes=10))
    engine.dispose()
    monkeypatch.setenv("FINSENT_DATABASE_URL", sqlite_url)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, ["alerts", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    assert "FIRING" not in run("list") and "no alerts" in run("list")
    once = run("run", "--once")
    assert "1 fired" in once
    listing = run("list")
    assert "ticker-negative-spike" in listing and "ticker:ACME" in listing and "firing" in listing
    alert = json.loads(run("list", "--json").splitlines()[0])
    assert alert["scope"] == "ACME" and alert["value"]["z"] > 4

    assert "acknowledged alert" in run("ack", str(alert["id"]), "--by", "ana", "--comment", "on it")
    silenced = run("silence", "--match", 'ticker="ACME"', "--for", "1h", "--by", "ana", "--comment", "known")
    assert 'ticker="ACME"' in silenced
    assert "active" in run("silences")
    assert "A" in run("list").splitlines()[1].split()[2]  # the A(cknowledged) flag
    shown = run("show", str(alert["id"]))
    assert "fired" in shown and "acked" in shown and "silenced" in shown
    silence_id = run("silences").split()[0]
    assert "expired" in run("unsilence", silence_id, "--by", "ana")
    assert "no silences" in run("silences")

    backtest = run("backtest", "--since", "3h", "--step", "5m")
    assert "ticker:ACME" in backtest and "1 alert(s) would have fired" in backtest

    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nname = "x"\nscope_kind = "planet"\n')
    result = runner.invoke(app, ["alerts", "check", "--rules", str(bad)])
    assert result.exit_code == 1 and "scope_kind" in result.output
    assert '"ticker-negative-spike"' in run("check")

    result = runner.invoke(app, ["alerts", "ack", "999"])
    assert result.exit_code != 0 and "no alert 999" in result.output
