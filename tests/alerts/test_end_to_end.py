"""The issue's acceptance tests on PostgreSQL, with a real SMTP server and a real HTTP server for Slack.

Time is simulated: data is written minute by minute as it would arrive, and the evaluation
cycle and dispatcher are called with the simulated "now" the scheduler would use.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from finsent.alerts.cycle import AlertCycle
from finsent.alerts.wiring import build_cycle
from finsent.db import session_scope
from finsent.settings import AlertSettings
from finsent.store import write_scored
from finsent.tables import Alert, AlertEvent, OutboxMessage
from tests.utils.alert_history import T0, between, flat_stream, negative_burst, seed_history
from tests.utils.receivers import SlackStandIn, SmtpServer

MINUTE = timedelta(minutes=1)


def _settings(smtp: SmtpServer, slack: SlackStandIn) -> AlertSettings:
    return AlertSettings(
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        email_from="finsent@example.test",
        email_to=["desk@example.test"],
        slack_webhook_url=SecretStr(slack.url),
        dashboard_url="http://dashboard.example.test:8501",
        send_timeout_s=2.0,
        retry_initial_s=10,
        retry_max_s=120,
    )


class Sim:
    """Drives the shipped rules through simulated minutes: write what arrived, evaluate, dispatch."""

    def __init__(self, factory: sessionmaker[Session], cycle: AlertCycle, stream: list) -> None:
        self.factory, self.cycle, self.stream = factory, cycle, stream

    def write(self, messages: list) -> None:
        with session_scope(self.factory) as s:
            write_scored(s, messages)

    def minute(self, at: datetime, extra: list | None = None) -> list:
        """Data published in the minute before ``at`` arrives; then one cycle at ``at`` and a dispatch 30 s later."""
        self.write(between(self.stream, at - MINUTE, at) + (extra or []))
        result = self.cycle.evaluate(at)
        self.cycle.dispatch(at + timedelta(seconds=30))
        return result.transitions


def _alerts(factory: sessionmaker[Session]) -> list[Alert]:
    with factory() as s:
        return list(s.scalars(select(Alert).order_by(Alert.id)))


def test_burst_fires_one_alert_both_receivers_get_it_then_a_resolve_notice(
    pg_factory: sessionmaker[Session], smtp_server: SmtpServer, slack_server: SlackStandIn
) -> None:
    stream = flat_stream(T0 - timedelta(days=1), T0 + timedelta(hours=1))
    with httpx.Client() as client:
        cycle = build_cycle(_settings(smtp_server, slack_server), pg_factory, http_client=client)
        sim = Sim(pg_factory, cycle, stream)
        seed_history(pg_factory, between(stream, T0 - timedelta(days=1), T0))  # yesterday: the baseline
        assert sim.minute(T0) == []

        # Ten minutes of bad news about ACME arrive; the next cycle fires, once.
        burst = negative_burst(T0, ticker="ACME", count=24, minutes=10)
        sim.write(between(stream, T0, T0 + 9 * MINUTE))
        fired = sim.minute(T0 + 10 * MINUTE, extra=burst)
        assert [(t.kind, t.scope_kind, t.scope) for t in fired] == [("fired", "ticker", "ACME")]
        assert len(smtp_server.inbox.messages) == 1 and len(slack_server.posts) == 1

        email = smtp_server.inbox.messages[0]
        assert email["Subject"].startswith("[FIRING:1] negative sentiment spike on ticker ACME")
        assert email["To"] == "desk@example.test" and email["Message-ID"].endswith("@finsent>")
        text = email.get_payload(decode=True).decode()
        assert "Negative rate now:" in text and "Baseline:" in text
        assert "ACME shares plunge as regulator opens accounting probe" in text
        assert "https://news.example.test/acme/" in text
        assert "http://dashboard.example.test:8501/?scope_kind=ticker&scope=ACME" in text
        slack = slack_server.posts[0]
        assert "ACME" in slack["text"] and slack["blocks"][0]["type"] == "header"
        section = slack["blocks"][1]["text"]["text"]
        assert "<https://news.example.test/acme/" in section and "Open in the dashboard" in section
        assert slack_server.paths == ["/services/T0/B0/secret-token"]

        # The spike persists for a while: still one alert, no repeats; then it ends and resolves.
        resolved_at = None
        for i in range(11, 60):
            for t in sim.minute(T0 + i * MINUTE):
                assert t.kind == "resolved" and t.scope == "ACME"
                resolved_at = T0 + i * MINUTE
        assert resolved_at is not None and resolved_at <= T0 + 30 * MINUTE

    alerts = _alerts(pg_factory)
    assert [(a.rule, a.scope, a.state) for a in alerts] == [("ticker-negative-spike", "ACME", "resolved")]
    assert len(smtp_server.inbox.messages) == 2 and len(slack_server.posts) == 2
    assert smtp_server.inbox.messages[1]["Subject"].startswith("[RESOLVED:1] negative sentiment spike on ticker ACME")
    assert "Resolved: ticker ACME" in slack_server.posts[1]["blocks"][1]["text"]["text"]
    with pg_factory() as s:
        kinds = list(s.scalars(select(AlertEvent.kind).where(AlertEvent.alert_id == alerts[0].id).order_by(AlertEvent.id)))
        assert kinds == ["fired", "notified", "resolved", "notified"]
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")) == 0


def test_flat_stream_fires_nothing_over_a_simulated_day(
    pg_factory: sessionmaker[Session], smtp_server: SmtpServer, slack_server: SlackStandIn
) -> None:
    # Two days of ordinary news are stored up front; a cycle at time t reads only the complete
    # minutes before t, so stepping t through the second day sees the stream as it arrived.
    stream = flat_stream(T0 - timedelta(days=1), T0 + timedelta(days=1), per_minute=6, seed=11)
    seed_history(pg_factory, stream)
    with httpx.Client() as client:
        cycle = build_cycle(_settings(smtp_server, slack_server), pg_factory, http_client=client)
        tested = 0
        at = T0
        while at < T0 + timedelta(days=1):
            at += timedelta(minutes=10)
            result = cycle.evaluate(at)
            cycle.dispatch(at + timedelta(seconds=30))
            assert result.transitions == [], f"fired at {at}: {result.transitions}"
            tested += result.observations
    assert tested > 144 * 5  # the rules really looked at tickers, topics and the market every cycle
    assert _alerts(pg_factory) == []
    assert smtp_server.inbox.messages == [] and slack_server.posts == []


def test_alert_is_delivered_once_after_the_smtp_server_comes_back(
    pg_factory: sessionmaker[Session], smtp_server: SmtpServer, slack_server: SlackStandIn
) -> None:
    stream = flat_stream(T0 - timedelta(hours=12), T0 + timedelta(hours=1), seed=3)
    with httpx.Client() as client:
        cycle = build_cycle(_settings(smtp_server, slack_server), pg_factory, http_client=client)
        sim = Sim(pg_factory, cycle, stream)
        seed_history(pg_factory, between(stream, T0 - timedelta(hours=12), T0 + 9 * MINUTE))
        smtp_server.stop()  # the mail server goes down before the alert

        fired = sim.minute(T0 + 10 * MINUTE, extra=negative_burst(T0, ticker="ACME"))
        assert [t.scope for t in fired] == ["ACME"]
        assert len(slack_server.posts) == 1  # Slack is up: delivered at once
        with pg_factory() as s:
            email_row = s.scalars(select(OutboxMessage).where(OutboxMessage.integration == "email")).one()
            assert (email_row.status, email_row.attempts) == ("pending", 1)
            assert "unreachable" in (email_row.last_error or "")

        # Ticks while it is down: each due retry fails and backs off (10 s, 20 s, 40 s, ...).
        now = T0 + 10 * MINUTE + timedelta(seconds=30)
        for _ in range(12):
            now += timedelta(seconds=15)
            cycle.dispatch(now)
        with pg_factory() as s:
            email_row = s.scalars(select(OutboxMessage).where(OutboxMessage.integration == "email")).one()
            assert email_row.status == "pending" and 3 <= email_row.attempts <= 5
            assert email_row.next_attempt_at > now

        smtp_server.start()  # back on the same port
        for _ in range(20):
            now += timedelta(seconds=15)
            cycle.dispatch(now)

    assert len(smtp_server.inbox.messages) == 1
    assert smtp_server.inbox.messages[0]["Subject"].startswith("[FIRING:1]")
    assert len(slack_server.posts) == 1
    with pg_factory() as s:
        rows = list(s.scalars(select(OutboxMessage)))
        assert sorted((r.integration, r.status) for r in rows) == [("email", "sent"), ("slack", "sent")]
