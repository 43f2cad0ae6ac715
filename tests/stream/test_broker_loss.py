"""A broker that lost its data (the embedded broker restarted mid-stream) makes nothing skip: it is re-read.

Tansu keeps topics and offsets in memory; after a restart the worker's positions lie beyond the
new logs and the broker says nothing. The worker must notice, reset those partitions to their
start (counted in a metric) and so store every record written after the restart. Producers
(``finsent ingest simulate``) wait out the outage instead of exiting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from finsent.kafka import ensure_topics, make_producer
from finsent.stream.broker import EmbeddedBroker, free_port
from finsent.tables import Score

pytestmark = pytest.mark.slow

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc)


def _messages(start: int, n: int) -> list[bytes]:
    return [
        json.dumps(
            {
                "source": "wire",
                "title": f"Headline {i}: markets digest earnings",
                "url": f"https://news.example/loss/{i}",
                "published_at": (T0 + timedelta(seconds=i)).isoformat(),
            }
        ).encode()
        for i in range(start, start + n)
    ]


def _produce(bootstrap: str, topic: str, payloads: list[bytes]) -> None:
    producer = make_producer(bootstrap, compression_type=None)
    for i, payload in enumerate(payloads):
        producer.send(topic, key=str(i % 8).encode(), value=payload)
    producer.flush(60)
    producer.close()


def _commit(bootstrap: str, group: str, topic: str, partitions: int, offset: int) -> None:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        consumer.commit({TopicPartition(topic, p): OffsetAndMetadata(offset, "", -1) for p in range(partitions)})
    finally:
        consumer.close()


def _scores(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(Score.__table__)).scalar_one()
    finally:
        engine.dispose()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _wait(predicate, timeout: float, what: str, log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{log.read_text()[-4000:]}")


def test_the_worker_rereads_what_a_restarted_broker_lost(pg_url: str, tiny_model_path: Path, tmp_path: Path) -> None:
    broker = EmbeddedBroker(port=free_port(), log_path=tmp_path / "tansu.log").start()
    web_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")},
        "FINSENT_KAFKA_BOOTSTRAP": broker.bootstrap,
        "FINSENT_DATABASE_URL": pg_url,
        "FINSENT_MODEL_PATH": str(tiny_model_path),
        "FINSENT_MODEL_THREADS": "1",
        "FINSENT_STREAM_MAX_BATCH": "32",
        "FINSENT_STREAM_WEB_PORT": str(web_port),
        "FINSENT_DATA_DIR": str(tmp_path / "var"),
        "FINSENT_LOG_LEVEL": "INFO",
    }
    topic, log_path = "finsent.raw", tmp_path / "worker.log"
    worker = None
    try:
        ensure_topics(broker.bootstrap, [topic], partitions=4)
        _produce(broker.bootstrap, topic, _messages(0, 400))
        worker = subprocess.Popen(
            [sys.executable, "-m", "finsent.cli", "worker"], env=env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT
        )
        _wait(lambda: _scores(pg_url) >= 400, 180, "the first 400 scores", log_path)
        assert _get(f"http://127.0.0.1:{web_port}/healthz")[0] == 200
        _wait(lambda: _get(f"http://127.0.0.1:{web_port}/readyz")[0] == 200, 30, "readiness", log_path)

        broker.stop()  # everything the broker held is gone
        time.sleep(2)
        broker.start()
        ensure_topics(broker.bootstrap, [topic], partitions=4)  # as `finsent ingest` does on connect
        # The worker's old positions, committed to the new broker (as a worker does when it commits on
        # revoke, or as a cluster that kept offsets but lost the log would answer): beyond every log end.
        _commit(broker.bootstrap, "finsent-worker", topic, 4, 1_000)
        _produce(broker.bootstrap, topic, _messages(400, 200))  # offsets 0..~50 per partition: below the worker's
        _wait(lambda: _scores(pg_url) >= 600, 180, "the 200 written after the restart", log_path)
        time.sleep(2)
        assert _scores(pg_url) == 600
        status, body = _get(f"http://127.0.0.1:{web_port}/metrics")
        resets = [line for line in body.splitlines() if line.startswith("finsent_worker_partition_resets_total{")]
        assert status == 200 and resets and sum(float(line.rsplit(" ", 1)[1]) for line in resets) >= 1
        assert "the broker lost data" in log_path.read_text()
        assert worker.poll() is None
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            worker.wait(60)
        broker.stop()


def test_the_simulator_waits_out_a_broker_outage(tmp_path: Path) -> None:
    broker = EmbeddedBroker(port=free_port(), log_path=tmp_path / "tansu.log").start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")},
        "FINSENT_KAFKA_BOOTSTRAP": broker.bootstrap,
        "FINSENT_INGEST_PUBLISH_RETRY_MAX_S": "1",
    }
    sim = subprocess.Popen(
        [sys.executable, "-m", "finsent.cli", "ingest", "simulate", "--scenario", "calm", "--rate", "10", "--count", "100", "--seed", "3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "sim.log", "wb"),
        text=True,
    )
    try:
        time.sleep(2.5)
        broker.stop()
        time.sleep(4)
        assert sim.poll() is None, "the simulator exited during the outage"
        broker.start()
        out, _ = sim.communicate(timeout=120)
        assert sim.returncode == 0, (tmp_path / "sim.log").read_text()[-3000:]
        assert "sent 100 simulated messages" in out
    finally:
        if sim.poll() is None:
            sim.kill()
        broker.stop()
