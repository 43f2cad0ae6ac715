"""The scheduler's HTTP endpoints on loopback: metrics, liveness, and readiness that follows the jobs."""

from __future__ import annotations


from finsent.alerts.metrics import Health, serve
from finsent.stream.broker import free_port
from tests.utils.http_server import get



def test_readiness_follows_the_jobs_and_metrics_are_served() -> None:
    health, port = Health(stale_after_s=60), free_port()
    server = serve("127.0.0.1", port, health)
    base = f"http://127.0.0.1:{port}"
    try:
        assert get(f"{base}/healthz")[0] == 200
        assert get(f"{base}/readyz") == (503, '{"status": "not ready", "problems": ["no job has run yet"]}')
        health.ok()
        assert get(f"{base}/readyz")[0] == 200
        health.failed("evaluate: OperationalError: database is down")
        status, body = get(f"{base}/readyz")
        assert status == 503 and "database is down" in body
        status, body = get(f"{base}/metrics")
        assert status == 200 and "finsent_alerts_outbox_pending" in body and "finsent_alerts_evaluations_total" in body
    finally:
        server.shutdown()
