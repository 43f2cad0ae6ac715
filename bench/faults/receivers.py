"""Part 5, receiver outage: SMTP down and the Slack and webhook endpoints answering 500 while alerts
fire; the scheduler SIGKILLed and restarted while notifications are pending. After recovery every
notification is delivered exactly once.

The history is seeded in the database ending now, with a burst of negative news about one ticker
in the last 20 minutes (``finsent.bench.alerts.seed``), so ``finsent alerts run`` fires on its first
cycles. Delivery is counted at the receivers by idempotency key: the email Message-ID, and the
outbox key the scheduler puts in each webhook's group key and Slack text.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import create_engine, func, select

from finsent.bench.faults.harness import Stack, non_json_lines, wait_until
from finsent.bench.faults.report import Result
from finsent.stream.broker import free_port
from finsent.tables import OutboxMessage

__all__ = ["FULL", "REDUCED", "ReceiverSize", "run"]


@dataclass(frozen=True)
class ReceiverSize:
    outage_s: float
    rows: int  # seeded history


FULL = ReceiverSize(outage_s=600.0, rows=200_000)
REDUCED = ReceiverSize(outage_s=8.0, rows=30_000)

_RULES = """
[[rules]]
name = "ticker-negative-spike"
scope_kind = "ticker"
window = "15m"
baseline = "7d"
min_volume = 10
min_rate = 0.4
min_z = 4.0
min_lift = 1.5
resolve_z = 2.0
prior_weight = 20
cooldown = "30m"
severity = "warning"

[route]
receiver = "analysts"
group_by = ["scope_kind", "scope"]
group_wait = "1s"
group_interval = "5m"
repeat_interval = "4h"

[[receivers]]
name = "analysts"
email_configs = [{ send_resolved = true }]
slack_configs = [{ send_resolved = true }]
webhook_configs = [{ url_env = "FAULTS_WEBHOOK_URL" }]
"""


@dataclass
class _Http:
    """A loopback endpoint for Slack and the webhook: answers 500 while ``failing``, records what it accepted."""

    failing: bool = True
    accepted: list[tuple[str, bytes]] = field(default_factory=list)
    refused: int = 0

    def start(self) -> int:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if owner.failing:
                    owner.refused += 1
                    self.send_response(500)
                else:
                    owner.accepted.append((self.path, body))
                    self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Smtp:
    """aiosmtpd on a fixed port, started only when the outage ends (until then: connection refused)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.message_ids: list[str] = []
        self._controller = None

    def start(self) -> None:
        from email import message_from_bytes

        from aiosmtpd.controller import Controller

        owner = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
                owner.message_ids.append(str(message_from_bytes(envelope.original_content or envelope.content)["Message-ID"]))
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()


def _outbox(url: str) -> Counter[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    finally:
        engine.dispose()
    return Counter({status: n for status, n in rows})


def run(stack: Stack, size: ReceiverSize, rng: random.Random) -> Result:
    from finsent.bench import alerts as alerts_bench

    result = Result("receiver outage")
    engine = create_engine(stack.db_url)
    try:
        alerts_bench.seed(engine, alerts_bench.BenchSpec(rows=size.rows, days=8.0), end=datetime.now(timezone.utc))
    finally:
        engine.dispose()
    rules = stack.work_dir / "rules.toml"
    rules.write_text(_RULES)
    http, smtp = _Http(), _Smtp()
    http_port = http.start()
    env = stack.env(
        FINSENT_ALERTS_RULES_FILE=str(rules),
        FINSENT_ALERTS_MODEL_VERSION="bench-v1",
        FINSENT_ALERTS_INTERVAL_S="1",
        FINSENT_ALERTS_DISPATCH_INTERVAL_S="1",
        FINSENT_ALERTS_RETRY_INITIAL_S="1",
        FINSENT_ALERTS_RETRY_MAX_S="5",
        FINSENT_ALERTS_SEND_TIMEOUT_S="2",
        FINSENT_ALERTS_SMTP_HOST="127.0.0.1",
        FINSENT_ALERTS_SMTP_PORT=str(smtp.port),
        FINSENT_ALERTS_EMAIL_TO='["analysts@example.test"]',
        FINSENT_ALERTS_SLACK_WEBHOOK_URL=f"http://127.0.0.1:{http_port}/slack/T0/B0/secret",
        FAULTS_WEBHOOK_URL=f"http://127.0.0.1:{http_port}/webhook",
    )
    log_path = stack.work_dir / "alerts.log"

    def start() -> subprocess.Popen[bytes]:
        log = open(log_path, "ab")
        proc = subprocess.Popen([sys.executable, "-m", "finsent.cli", "alerts", "run"], env=env, stdout=log, stderr=log)
        log.close()
        return proc

    scheduler = start()
    outage_started = time.monotonic()
    try:
        wait_until(lambda: _outbox(stack.db_url)["pending"] >= 3, timeout_s=180, what="pending notifications")
        wait_until(lambda: http.refused >= 2, timeout_s=60, what="failed sends")
        # A restart while notifications are pending (SIGKILL: no chance to finish anything).
        scheduler.kill()
        scheduler.wait(30)
        pending_at_kill = _outbox(stack.db_url)["pending"]
        scheduler = start()
        time.sleep(max(0.0, size.outage_s - (time.monotonic() - outage_started)))
        outbox_during = _outbox(stack.db_url)
        smtp.start()
        http.failing = False
        recovered_at = time.monotonic()
        wait_until(lambda: _outbox(stack.db_url)["pending"] == 0, timeout_s=120, every_s=0.5, what="every notification sent")
        recovery = time.monotonic() - recovered_at
        time.sleep(4)  # a duplicate would arrive now
    finally:
        if scheduler.poll() is None:
            scheduler.terminate()
            scheduler.wait(30)
        smtp.stop()
        http.stop()
    outbox = _outbox(stack.db_url)
    webhook_keys = Counter(json.loads(body).get("groupKey") for path, body in http.accepted if path == "/webhook")
    slack_posts = [body for path, body in http.accepted if path.startswith("/slack/")]
    emails = Counter(smtp.message_ids)
    sent = outbox["sent"]
    delivered = sum(emails.values()) + sum(webhook_keys.values()) + len(slack_posts)
    duplicates = sum(n - 1 for n in emails.values() if n > 1) + sum(n - 1 for n in webhook_keys.values() if n > 1)
    duplicates += len(slack_posts) - len(set(slack_posts))
    bad_lines = non_json_lines([log_path])

    result.messages = sent
    result.faults = f"SMTP down, Slack/webhook 500 for {size.outage_s:.0f} s; scheduler SIGKILLed with {pending_at_kill} pending"
    result.lost = max(0, sent - delivered) + outbox["failed"]
    result.duplicated = duplicates
    result.recovery = f"every pending notification delivered {recovery:.1f} s after the receivers returned"
    result.check("notifications were pending during the outage", outbox_during["pending"] > 0 and outbox_during["sent"] == 0)
    result.check("every notification delivered", outbox["pending"] == 0 and outbox["failed"] == 0 and delivered == sent)
    result.check("none delivered twice", duplicates == 0)
    result.check("every integration delivered", bool(emails) and bool(webhook_keys) and bool(slack_posts))
    result.check("scheduler log is JSON lines only, no webhook secret in it", not bad_lines and "secret" not in log_path.read_text())
    result.details.update(
        {
            "outbox": dict(outbox),
            "delivered (email, slack, webhook)": (sum(emails.values()), len(slack_posts), sum(webhook_keys.values())),
            "500s answered during the outage": http.refused,
            "pending at the SIGKILL": pending_at_kill,
        }
    )
    return result
