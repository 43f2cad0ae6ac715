"""Prometheus metrics of the alert scheduler, and its small HTTP server: /metrics, /healthz, /readyz."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

__all__ = ["EVALUATIONS", "Health", "NOTIFICATIONS", "OUTBOX_OLDEST_AGE", "OUTBOX_PENDING", "serve"]

EVALUATIONS = Counter("finsent_alerts_evaluations_total", "Evaluation cycles, by outcome (ok, error).", ["outcome"])
NOTIFICATIONS = Counter(
    "finsent_alerts_notifications_total",
    "Delivery attempts, by receiver, integration and outcome (sent, retried, failed).",
    ["receiver", "integration", "outcome"],
)
OUTBOX_PENDING = Gauge("finsent_alerts_outbox_pending", "Notifications recorded and not yet sent.")
OUTBOX_OLDEST_AGE = Gauge("finsent_alerts_outbox_oldest_pending_seconds", "Age of the oldest unsent notification.")


class Health:
    """Liveness and readiness of the scheduler: ready once a job ran and the last one reached the database."""

    def __init__(self, *, stale_after_s: float) -> None:
        self._lock = threading.Lock()
        self._last_ok: float | None = None
        self._last_error: str | None = None
        self._stale_after_s = stale_after_s

    def ok(self) -> None:
        with self._lock:
            self._last_ok, self._last_error = time.monotonic(), None

    def failed(self, error: str) -> None:
        with self._lock:
            self._last_error = error

    def problems(self) -> list[str]:
        with self._lock:
            if self._last_error is not None:
                return [f"last job failed: {self._last_error[:200]}"]
            if self._last_ok is None:
                return ["no job has run yet"]
            if time.monotonic() - self._last_ok > self._stale_after_s:
                return ["no job finished recently"]
            return []


def serve(bind: str, port: int, health: Health) -> ThreadingHTTPServer:
    """Start the metrics/health server in a daemon thread; returns it (``shutdown()`` stops it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/metrics":
                status, body, kind = 200, generate_latest(), CONTENT_TYPE_LATEST
            elif self.path == "/healthz":
                status, body, kind = 200, b'{"status": "alive"}', "application/json"
            elif self.path == "/readyz":
                problems = health.problems()
                body = json.dumps({"status": "not ready" if problems else "ready", "problems": problems}).encode()
                status, kind = (503 if problems else 200), "application/json"
            else:
                status, body, kind = 404, b"not found", "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((bind, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="alerts-metrics").start()
    return server
