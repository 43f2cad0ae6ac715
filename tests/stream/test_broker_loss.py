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
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from finsent.kafka import ensure_topics, make_producer
from finsent.stream.broker import EmbeddedBroker, free_port
from tests.utils.database import count_scores
from tests.utils.http_server import get
from tests.utils.kafka import consume

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




def _samples(body: str) -> dict[str, float]:
    """Unlabelled samples of a Prometheus text page."""
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


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
    metrics_url = f"http://127.0.0.1:{web_port}/metrics"

    def start_worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "finsent.cli", "worker"], env=env, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT
        )

    def restart_broker() -> None:
        broker.stop()  # everything the broker held is gone
        time.sleep(2)
        broker.start()
        ensure_topics(broker.bootstrap, [topic], partitions=4)  # as `finsent ingest` does on connect

    worker = None
    try:
        ensure_topics(broker.bootstrap, [topic], partitions=4)
        _produce(broker.bootstrap, topic, _messages(0, 400))
        worker = start_worker()
        _wait(lambda: count_scores(pg_url) >= 400, 180, "the first 400 scores", log_path)
        assert get(f"http://127.0.0.1:{web_port}/healthz")[0] == 200
        _wait(lambda: get(f"http://127.0.0.1:{web_port}/readyz")[0] == 200, 30, "readiness", log_path)
        _wait(lambda: "finsent_worker_consumer_lag{" in get(metrics_url)[1], 30, "lag", log_path)
        samples = _samples(get(metrics_url)[1])
        assert samples["finsent_worker_produce_to_row_seconds_count"] == 400  # every acked record, timed
        assert samples["finsent_worker_batch_size_sum"] == 400 and samples["finsent_worker_batch_size_count"] >= 13

        # 1. The broker restarts under the running worker: its positions (~100 per partition) now lie
        #    beyond the new logs, where the next 200 records get offsets 0..~50.
        restart_broker()
        _produce(broker.bootstrap, topic, _messages(400, 200))
        _wait(lambda: count_scores(pg_url) >= 600, 180, "the 200 written after the first restart", log_path)

        # 2. Committed offsets beyond the log end: the worker is stopped, the broker loses its logs again
        #    but is handed the old positions (as a worker commits on revoke, or a cluster that kept its
        #    offsets but lost data answers); the worker starts from them.
        worker.terminate()  # SIGTERM: a clean stop
        assert worker.wait(60) == 0
        restart_broker()
        _commit(broker.bootstrap, "finsent-worker", topic, 4, 1_000)
        _produce(broker.bootstrap, topic, _messages(600, 200))
        worker = start_worker()
        _wait(lambda: count_scores(pg_url) >= 800, 180, "the 200 written after the second restart", log_path)
        time.sleep(2)
        assert count_scores(pg_url) == 800
        status, body = get(metrics_url)
        resets = [line for line in body.splitlines() if line.startswith("finsent_worker_partition_resets_total{")]
        assert status == 200 and sum(float(line.rsplit(" ", 1)[1]) for line in resets) == 4
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


def test_ingest_run_keeps_polling_through_a_broker_outage(tmp_path: Path) -> None:
    """`finsent ingest run` with a file source: files dropped while the broker is down are sent once it is back."""
    broker = EmbeddedBroker(port=free_port(), log_path=tmp_path / "tansu.log").start()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[[sources]]\nname = "inbox"\nkind = "file"\npath = "{inbox}"\ninterval_s = 1\n')
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")},
        "FINSENT_KAFKA_BOOTSTRAP": broker.bootstrap,
        "FINSENT_INGEST_STATE_PATH": str(tmp_path / "state.db"),
    }
    run = subprocess.Popen(
        [sys.executable, "-m", "finsent.cli", "ingest", "run", "--sources", str(sources)],
        env=env, stdout=subprocess.PIPE, stderr=open(tmp_path / "ingest.log", "wb"), text=True,
    )  # fmt: skip
    try:
        time.sleep(3)
        broker.stop()
        (inbox / "during-outage.jsonl").write_text(
            "\n".join(m.decode() for m in _messages(0, 5)) + "\n"
        )  # polled while the broker is down: not acknowledged, so kept for the next poll
        time.sleep(5)
        assert run.poll() is None, (tmp_path / "ingest.log").read_text()[-3000:]
        broker.start()
        got = consume(broker.bootstrap, "finsent.raw", expect=5, timeout_s=120)
        assert sorted(json.loads(r.value)["url"] for r in got) == sorted(
            f"https://news.example/loss/{i}" for i in range(5)
        )
    finally:
        run.terminate()
        run.wait(60)
        broker.stop()
