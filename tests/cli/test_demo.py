"""`finsent demo` runs the whole slice on embedded defaults and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from finsent.stream.broker import free_port

pytestmark = pytest.mark.slow


def _scores(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM scores").fetchone()[0]
    except sqlite3.OperationalError:  # not migrated yet
        return 0


def test_demo_scores_news_serves_dashboard_and_stops_on_ctrl_c(tmp_path: Path, tiny_model_path: Path) -> None:
    dashboard_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")},
        "FINSENT_MODEL_PATH": str(tiny_model_path),
        "FINSENT_KAFKA_EMBEDDED_PORT": str(free_port()),
        "FINSENT_DASHBOARD_PORT": str(dashboard_port),
        "FINSENT_STREAM_WEB_PORT": str(free_port()),
        "FINSENT_INGEST_SIMULATOR_RATE": "20",
        "FINSENT_ALERTS_INTERVAL_S": "5",
    }
    out = open(tmp_path / "demo.out", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "finsent.cli", "demo"], cwd=tmp_path, env=env, stdout=out, stderr=out)
    db = tmp_path / "var" / "finsent.db"
    try:
        deadline = time.monotonic() + 240
        page_ok = False
        while time.monotonic() < deadline and not (page_ok and _scores(db) >= 20):
            assert proc.poll() is None, (tmp_path / "demo.out").read_text()
            try:
                page_ok = httpx.get(f"http://127.0.0.1:{dashboard_port}/", timeout=2).status_code == 200
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert page_ok, "dashboard never answered"
        assert _scores(db) >= 20, (tmp_path / "var" / "demo" / "worker.log").read_text()[-2000:]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    output = (tmp_path / "demo.out").read_text()
    assert "stopped cleanly" in output
    with pytest.raises(httpx.HTTPError):  # the dashboard went away with the demo
        httpx.get(f"http://127.0.0.1:{dashboard_port}/", timeout=2)
