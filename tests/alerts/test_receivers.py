"""Webhook, Alertmanager and per-receiver Slack receivers through the outbox, against loopback HTTP servers
that fail and then recover: each notification arrives exactly once, signed where a secret is set."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session, sessionmaker

from finsent.alerts.dispatch import resolve_integrations
from finsent.alerts.notify.http import SIGNATURE_HEADER
from finsent.alerts.outbox import RetryPolicy, deliver_due, enqueue
from finsent.alerts.render import Notice, NoticeAlert, render_alertmanager, render_webhook
from finsent.alerts.rules import AlertsConfig, load_config
from finsent.alerts.wiring import build_cycle, build_notifiers
from finsent.db import session_scope
from finsent.settings import AlertSettings
from finsent.store import write_scored
from tests.utils.alert_history import T0, between, flat_stream, negative_burst, seed_history

POLICY = RetryPolicy(initial=timedelta(seconds=10), maximum=timedelta(minutes=1), give_up_after=timedelta(hours=1))


@dataclass
class Recorder:
    """A loopback HTTP server answering ``failures`` first, then 200; it keeps what it accepted."""

    failures: list[int]
    accepted: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture()
def server() -> Iterator[Recorder]:
    recorder = Recorder([503, 500])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = recorder.failures.pop(0) if recorder.failures else 200
            if status == 200:
                recorder.accepted.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    recorder.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield recorder
    httpd.shutdown()
    httpd.server_close()


def _alert(state: str) -> NoticeAlert:
    value = {"rate": 0.8, "volume": 30, "baseline_rate": 0.25, "z": 6.1}
    return NoticeAlert(
        id=7, rule="ticker-negative-spike", scope_kind="ticker", scope="ACME", severity="warning",
        direction="negative", state=state, started_at=T0, resolved_at=T0 + timedelta(minutes=20) if state == "resolved" else None,
        value=value, peak=value, labels={"scope_kind": "ticker", "scope": "ACME", "ticker": "ACME", "severity": "warning"},
        fingerprint="f" * 16,
    )  # fmt: skip


def _notice(state: str) -> Notice:
    alert = _alert(state)
    return Notice(
        receiver="oncall", group_labels={"scope": "ACME"}, firing=[alert] if state == "firing" else [],
        resolved=[alert] if state == "resolved" else [], dashboard_url="http://dash.example", created_at=T0,
        alert_ids=[7],
    )  # fmt: skip


CONFIG = AlertsConfig.model_validate(
    {
        "route": {"receiver": "oncall"},
        "receivers": [
            {
                "name": "oncall",
                "webhook_configs": [{"url_env": "ONCALL_HOOK_URL", "hmac_secret_env": "ONCALL_HOOK_SECRET"}],
                "alertmanager_configs": [{"url_env": "AM_URL"}],
                "slack_configs": [{"webhook_url_env": "SLACK_ONCALL"}],
            }
        ],
    }
)


def test_webhook_and_alertmanager_deliver_exactly_once_after_failures(
    server: Recorder, db_factory: sessionmaker[Session]
) -> None:
    env = {"ONCALL_HOOK_URL": f"{server.url}/hook/T0ken", "ONCALL_HOOK_SECRET": "s3cret", "AM_URL": server.url,
           "SLACK_ONCALL": f"{server.url}/services/oncall"}  # fmt: skip
    integrations = resolve_integrations(CONFIG, AlertSettings(), env)
    assert [i.kind for i in integrations["oncall"]] == ["slack", "webhook", "alertmanager"]
    lookup = lambda r, k, i: next(x for x in integrations[r] if x.kind == k and x.index == i)  # noqa: E731
    notifiers = build_notifiers(AlertSettings(), lookup)
    payloads = {
        "hook-firing": ("webhook", render_webhook(_notice("firing"), group_key="g1")),
        "am-firing": ("alertmanager", render_alertmanager(_notice("firing"))),
        "am-resolved": ("alertmanager", render_alertmanager(_notice("resolved"))),
    }
    with session_scope(db_factory) as session:
        for key, (kind, payload) in payloads.items():
            enqueue(session, key=key, receiver="oncall", integration=kind, payload={**payload, "target": ["oncall", 0]},
                    alert_ids=[7], now=T0)  # fmt: skip

    now = T0
    for _ in range(12):  # the server fails twice, then recovers; later passes must send nothing more
        deliver_due(db_factory, notifiers, now=now, policy=POLICY)
        now += timedelta(seconds=30)
    paths = sorted(path for path, _, _ in server.accepted)
    assert paths == ["/api/v2/alerts", "/api/v2/alerts", "/hook/T0ken"]  # each exactly once

    [(_, headers, body)] = [a for a in server.accepted if a[0] == "/hook/T0ken"]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER.lower()] == expected and headers["idempotency-key"] == "hook-firing"
    hook = json.loads(body)
    assert hook["version"] == "4" and hook["status"] == "firing" and hook["receiver"] == "oncall"
    assert hook["alerts"][0]["labels"]["alertname"] == "ticker-negative-spike"
    am = [json.loads(b) for p, _, b in server.accepted if p == "/api/v2/alerts"]
    resolved = next(batch for batch in am if "endsAt" in batch[0])
    firing = next(batch for batch in am if "endsAt" not in batch[0])
    assert resolved[0]["endsAt"].startswith("2026") and firing[0]["labels"]["ticker"] == "ACME"


def test_unset_or_empty_variables_drop_the_integration_with_a_warning() -> None:
    integrations = resolve_integrations(CONFIG, AlertSettings(), {"ONCALL_HOOK_URL": "http://x", "ONCALL_HOOK_SECRET": ""})
    assert integrations["oncall"] == []  # signing secret named but empty; no AM URL; no Slack URL


def test_a_spike_reaches_webhook_alertmanager_and_the_receivers_slack_once_each_then_resolves(
    server: Recorder, pg_factory: sessionmaker[Session]
) -> None:
    """The whole path on PostgreSQL: rules over rollups, dispatcher, outbox, HTTP receivers that fail, then recover."""
    shipped = load_config().model_dump(mode="json", by_alias=True)
    config = AlertsConfig.model_validate({**shipped, "route": {"receiver": "oncall"}, "receivers": CONFIG.model_dump(
        mode="json", by_alias=True)["receivers"]})  # fmt: skip
    env = {"ONCALL_HOOK_URL": f"{server.url}/hook", "ONCALL_HOOK_SECRET": "s3cret", "AM_URL": server.url,
           "SLACK_ONCALL": f"{server.url}/services/oncall"}  # fmt: skip
    settings = AlertSettings(dashboard_url="http://dash.example", send_timeout_s=2.0, retry_initial_s=10, retry_max_s=60)
    cycle = build_cycle(settings, pg_factory, config=config, env=env)
    minute = timedelta(minutes=1)
    stream = flat_stream(T0 - timedelta(hours=12), T0 + timedelta(hours=1), seed=3)
    seed_history(pg_factory, between(stream, T0 - timedelta(hours=12), T0 + 9 * minute))
    with session_scope(pg_factory) as s:
        write_scored(s, negative_burst(T0, ticker="ACME"))
    at: datetime = T0 + 10 * minute
    fired = cycle.evaluate(at).transitions
    assert [t.scope for t in fired] == ["ACME"]
    for i in range(180):  # dispatch ticks every 15 s; the first two posts fail (503, 500) and are retried
        now = at + timedelta(seconds=15 * i)
        if i % 4 == 0:
            with session_scope(pg_factory) as s:
                write_scored(s, between(stream, now - minute, now))
            cycle.evaluate(now)
        cycle.dispatch(now + timedelta(seconds=5))
    by_path: dict[str, list[bytes]] = {}
    for path, _, body in server.accepted:
        by_path.setdefault(path, []).append(body)
    assert sorted(by_path) == ["/api/v2/alerts", "/hook", "/services/oncall"]
    assert [len(by_path[p]) for p in sorted(by_path)] == [2, 2, 2]  # firing, then resolved: each exactly once
    hooks = [json.loads(b) for b in by_path["/hook"]]
    assert [h["status"] for h in hooks] == ["firing", "resolved"] and hooks[0]["alerts"][0]["labels"]["scope"] == "ACME"
    am_firing, am_resolved = (json.loads(b) for b in by_path["/api/v2/alerts"])
    assert "endsAt" not in am_firing[0] and am_resolved[0]["endsAt"] > am_resolved[0]["startsAt"]
    sent = REGISTRY.get_sample_value(
        "finsent_alerts_notifications_total", {"receiver": "oncall", "integration": "webhook", "outcome": "sent"}
    )
    assert sent is not None and sent >= 2  # notifications by receiver and outcome
