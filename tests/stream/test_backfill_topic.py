"""`finsent backfill --via-kafka`: history goes to its own topic and the worker scores it below live news.

Real Tansu, real PostgreSQL, the worker as a process: 3,000 historical rows published by the CLI,
then live news produced while the worker is busy with them. Every row is scored exactly once, and
the live news is written before the backfill is through (it waits for at most one small backfill
batch, not for the whole backlog).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from finsent.kafka import ensure_topics, make_producer
from finsent.stream.broker import EmbeddedBroker, free_port
from finsent.tables import Document, Score
from tests.utils.database import count_scores

pytestmark = pytest.mark.slow

HISTORY = 3000
LIVE = 40
T_HISTORY = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _worker_env(db_url: str, broker: EmbeddedBroker, unique: str, tmp: Path, model: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FINSENT_KAFKA_BOOTSTRAP": broker.bootstrap,
        "FINSENT_KAFKA_RAW_TOPIC": f"raw-{unique}",
        "FINSENT_KAFKA_SCORED_TOPIC": f"scored-{unique}",
        "FINSENT_KAFKA_DEAD_LETTER_TOPIC": f"dead-{unique}",
        "FINSENT_KAFKA_BACKFILL_TOPIC": f"backfill-{unique}",
        "FINSENT_KAFKA_CONSUMER_GROUP": f"worker-{unique}",
        "FINSENT_DATABASE_URL": db_url,
        "FINSENT_MODEL_PATH": str(model),
        "FINSENT_MODEL_THREADS": "1",
        "FINSENT_STREAM_MAX_BATCH": "32",
        "FINSENT_STREAM_BACKFILL_MAX_BATCH": "16",
        "FINSENT_STREAM_WEB_PORT": str(free_port()),
        "FINSENT_DATA_DIR": str(tmp / "var"),
    }


def _history_file(path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(HISTORY):
            row = {
                "id": f"hist-{i}",
                "source": "archive",
                "title": f"Archived headline {i}: quarterly results and guidance for company {i % 50}",
                "published_at": (T_HISTORY + timedelta(minutes=i)).isoformat(),
            }
            fh.write(json.dumps(row) + "\n")
    return path


def _live_messages() -> list[bytes]:
    now = datetime.now(UTC)
    return [
        json.dumps({"id": f"live-{i}", "source": "wire", "title": f"Live headline {i}: shares jump on a beat",
                    "published_at": (now - timedelta(seconds=i)).isoformat()}).encode()
        for i in range(LIVE)
    ]


def test_history_via_kafka_is_scored_once_and_live_news_goes_first(
    pg_url: str, broker: EmbeddedBroker, unique: str, tmp_path: Path, tiny_model_path: Path
) -> None:
    env = _worker_env(pg_url, broker, unique, tmp_path, tiny_model_path)
    ensure_topics(broker.bootstrap, [env["FINSENT_KAFKA_RAW_TOPIC"]], partitions=4)
    sent = subprocess.run(
        [sys.executable, "-m", "finsent.cli", "backfill", "--via-kafka", str(_history_file(tmp_path / "history.jsonl"))],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert sent.returncode == 0, sent.stderr
    assert f"sent {HISTORY} of {HISTORY} rows" in sent.stdout and f"backfill-{unique}" in sent.stdout

    log = open(tmp_path / "worker.log", "ab")
    worker = subprocess.Popen([sys.executable, "-m", "finsent.cli", "worker"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while count_scores(pg_url) < 200:  # the backfill is under way
            assert worker.poll() is None and time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.1)
        producer = make_producer(broker.bootstrap)
        for i, payload in enumerate(_live_messages()):
            producer.send(env["FINSENT_KAFKA_RAW_TOPIC"], key=str(i).encode(), value=payload)
        producer.flush(30)
        producer.close()
        while count_scores(pg_url) < HISTORY + LIVE:
            assert worker.poll() is None and time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(2)  # a duplicate would land now
    finally:
        worker.terminate()
        worker.wait(60)

    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Document)).scalar() == HISTORY + LIVE
        assert conn.execute(select(func.count()).select_from(Score)).scalar() == HISTORY + LIVE
        live_done = conn.execute(select(func.max(Score.scored_at)).where(Score.document_id.like("live-%"))).scalar()
        history_done = conn.execute(select(func.max(Score.scored_at)).where(Score.document_id.like("hist-%"))).scalar()
    engine.dispose()
    assert live_done < history_done, "live news waited for the whole backfill"
