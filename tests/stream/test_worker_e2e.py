"""The real path: Tansu broker + database + the Faust worker as a separate process.

1,000 valid and 20 malformed messages in; exactly 1,000 scored documents and 20 dead letters
out, across a SIGKILL or a graceful stop of the worker midway.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from sqlalchemy import create_engine, func, select

from finsent.kafka import ensure_topics, make_producer
from finsent.stream.broker import EmbeddedBroker, free_port
from finsent.tables import Document, Rollup, Score
from tests.utils.database import count_scores

pytestmark = pytest.mark.slow

N_VALID = 1000
N_BAD = 20
T0 = datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc)


def valid_messages() -> list[bytes]:
    tickers = ["AAPL", "TSLA", "JPM", "XOM", "NVDA"]
    out = []
    for i in range(N_VALID):
        out.append(
            json.dumps(
                {
                    "source": "wire",
                    "kind": "news" if i % 3 else "comment",
                    "title": f"Headline {i}: {tickers[i % 5]} shares move as markets digest earnings",
                    "body": "Extra context. " * (i % 7),
                    "url": f"https://news.example/{i}",
                    "published_at": (T0 + timedelta(seconds=7 * i)).isoformat(),
                    "tickers": [tickers[i % 5]],
                }
            ).encode()
        )
    return out


def malformed_messages() -> list[bytes]:
    good = {"source": "wire", "title": "ok", "published_at": T0.isoformat()}
    bad: list[bytes] = [
        b"not json at all",
        b"\xff\xfe\x00binary",
        b"[1, 2, 3]",
        b'"just a string"',
        b"{}",
        json.dumps({**good, "published_at": "yesterday-ish"}).encode(),
        json.dumps({**good, "tickers": "AAPL"}).encode(),
        json.dumps({**good, "kind": "tweet"}).encode(),
        json.dumps({**good, "title": "", "body": ""}).encode(),
        json.dumps({**good, "source": ""}).encode(),
        json.dumps({**good, "body": "x " * 15_000}).encode(),  # oversize text
        json.dumps({**good, "tickers": ["not a ticker!"]}).encode(),
        json.dumps({"title": "no source", "published_at": T0.isoformat()}).encode(),
        json.dumps({**good, "published_at": None}).encode(),
        b'{"source": "wire", "title": "truncated',
        json.dumps({**good, "tickers": [1, 2]}).encode(),
        json.dumps({**good, "body": {"nested": True}}).encode(),
        b"",
        json.dumps({**good, "url": ["a"]}).encode(),
        b"{" * 300_000,  # oversize payload
    ]
    assert len(bad) == N_BAD
    return bad


class Worker:
    """A `finsent worker` subprocess with its own settings."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "finsent.cli", "worker"], env=self.env, stdout=log, stderr=log
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def ensure_stopped(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture()
def setup(broker: EmbeddedBroker, unique: str, tmp_path: Path) -> dict:
    return {"broker": broker, "unique": unique, "tmp": tmp_path}


def _env(db_url: str, broker: EmbeddedBroker, unique: str, tmp: Path, model: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FINSENT_KAFKA_BOOTSTRAP": broker.bootstrap,
        "FINSENT_KAFKA_RAW_TOPIC": f"raw-{unique}",
        "FINSENT_KAFKA_SCORED_TOPIC": f"scored-{unique}",
        "FINSENT_KAFKA_DEAD_LETTER_TOPIC": f"dead-{unique}",
        "FINSENT_KAFKA_CONSUMER_GROUP": f"worker-{unique}",
        "FINSENT_DATABASE_URL": db_url,
        "FINSENT_MODEL_PATH": str(model),
        "FINSENT_MODEL_THREADS": "1",
        "FINSENT_STREAM_MAX_BATCH": "32",
        "FINSENT_STREAM_MAX_WAIT_S": "0.2",
        "FINSENT_STREAM_WEB_PORT": str(free_port()),
        "FINSENT_DATA_DIR": str(tmp / "var"),
        "FINSENT_LOG_LEVEL": "INFO",
    }


def _produce(bootstrap: str, topic: str, payloads: list[bytes]) -> None:
    producer = make_producer(bootstrap, compression_type=None, max_request_size=2_000_000)
    for i, payload in enumerate(payloads):
        producer.send(topic, key=str(i % 16).encode(), value=payload)
    producer.flush(60)
    producer.close()



def _wait_for_scores(db_url: str, at_least: int, timeout: float, worker: Worker) -> int:
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        n = count_scores(db_url)
        if n >= at_least:
            return n
        assert worker.proc is not None and worker.proc.poll() is None, worker.log_path.read_text()[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"only {n} scores after {timeout}s; log:\n{worker.log_path.read_text()[-3000:]}")


def _dead_letters(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[dict]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=3000)
    letters: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for record in consumer:
                letters.append(json.loads(record.value))
            unique = {(d["partition"], d["offset"]) for d in letters}
            if len(unique) >= expected:
                break
    finally:
        consumer.close()
    return letters


def _run_interrupted_flow(db_url: str, broker: EmbeddedBroker, unique: str, tmp: Path, model: Path, interrupt: str) -> None:
    env = _env(db_url, broker, unique, tmp, model)
    ensure_topics(broker.bootstrap, [env["FINSENT_KAFKA_RAW_TOPIC"]], partitions=4)
    good, bad = valid_messages(), malformed_messages()
    # Malformed messages are spread through the stream, not bunched at the end.
    first = good[:600] + bad[:10]
    second = good[600:] + bad[10:]
    _produce(broker.bootstrap, env["FINSENT_KAFKA_RAW_TOPIC"], first)

    worker = Worker(env, tmp / "worker.log")
    try:
        worker.start()
        _wait_for_scores(db_url, 100, 120, worker)
        if interrupt == "sigkill":
            worker.kill()
        else:
            assert worker.stop() == 0, worker.log_path.read_text()[-3000:]
        interrupted_at = count_scores(db_url)
        _produce(broker.bootstrap, env["FINSENT_KAFKA_RAW_TOPIC"], second)

        worker.start()
        _wait_for_scores(db_url, N_VALID, 180, worker)
        time.sleep(2)  # anything extra (a duplicate) would land now
        assert worker.stop() == 0
    finally:
        worker.ensure_stopped()

    engine = create_engine(db_url)
    with engine.connect() as conn:
        n_docs = conn.execute(select(func.count()).select_from(Document.__table__)).scalar_one()
        n_scores = conn.execute(select(func.count()).select_from(Score.__table__)).scalar_one()
        distinct = conn.execute(select(func.count(func.distinct(Score.document_id)))).scalar_one()
        rolled = conn.execute(
            # Counting stories (the default), a copy of a story already counted adds to duplicates instead.
            select(func.sum(Rollup.negative + Rollup.neutral + Rollup.positive + Rollup.duplicates)).where(
                Rollup.scope_kind == "all"
            )
        ).scalar_one()
    engine.dispose()
    assert 0 < interrupted_at < N_VALID or interrupt == "sigterm", interrupted_at
    assert (n_docs, n_scores, distinct) == (N_VALID, N_VALID, N_VALID)
    assert rolled == N_VALID  # the rollups counted each document exactly once

    letters = _dead_letters(broker.bootstrap, env["FINSENT_KAFKA_DEAD_LETTER_TOPIC"], N_BAD)
    by_origin = {(d["partition"], d["offset"]): d for d in letters}
    assert len(by_origin) == N_BAD
    assert all(d["reason"] and d["error"] for d in by_origin.values())
    reasons = {d["reason"] for d in by_origin.values()}
    assert {"bad_json", "invalid_fields", "oversize", "oversize_text", "not_an_object"} <= reasons
    # The original bytes travel with the reason, so nothing is lost.
    from finsent.messages import DeadLetter

    assert sorted(DeadLetter.model_validate(d).original() for d in by_origin.values()) == sorted(malformed_messages())


@pytest.mark.parametrize("interrupt", ["sigkill", "sigterm"])
def test_worker_postgres_survives_interruption(pg_url: str, setup: dict, tiny_model_path: Path, interrupt: str) -> None:
    _run_interrupted_flow(pg_url, setup["broker"], setup["unique"], setup["tmp"], tiny_model_path, interrupt)


def test_worker_sqlite_survives_sigkill(sqlite_url: str, setup: dict, tiny_model_path: Path) -> None:
    _run_interrupted_flow(sqlite_url, setup["broker"], setup["unique"], setup["tmp"], tiny_model_path, "sigkill")


def hostile_messages() -> list[bytes]:
    """One of each message that used to crash-loop the worker, plus an id reused for other text."""
    good = {"source": "wire", "published_at": T0.isoformat()}
    return [
        json.dumps({**good, "title": "Profit rose\u0000 12%", "url": "https://news.example/nul"}).encode(),
        json.dumps({**good, "title": "From the far future", "published_at": "9999-12-31T23:59:00"}).encode(),
        b'{"source": "wire", "title": "deep", "published_at": "2026-11-02T14:00:00+00:00", "x": '
        + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"source": "wire", "title": "digits", "published_at": "2026-11-02T14:00:00+00:00", "n": ' + b"9" * 5000 + b"}",
        json.dumps({**good, "title": "huge", "body": "z" * 5_000_000}).encode(),
        json.dumps({**good, "title": "A rewritten headline", "url": "https://news.example/3"}).encode(),  # id of valid #3
    ]


def test_hostile_messages_cost_one_dead_letter_each_never_the_stream(pg_url: str, setup: dict, tiny_model_path: Path) -> None:
    broker, unique, tmp = setup["broker"], setup["unique"], setup["tmp"]
    env = _env(pg_url, broker, unique, tmp, tiny_model_path)
    ensure_topics(broker.bootstrap, [env["FINSENT_KAFKA_RAW_TOPIC"]], partitions=4)
    good, hostile = valid_messages()[:200], hostile_messages()
    # The rewrite of #3 comes after #3 itself (same key, same partition); the rest is interleaved.
    stream = good[:50] + hostile[:5] + good[50:] + hostile[5:]
    producer = make_producer(broker.bootstrap, compression_type=None, max_request_size=8_000_000)
    for i, payload in enumerate(stream):
        producer.send(env["FINSENT_KAFKA_RAW_TOPIC"], key=b"one-partition", value=payload)
    producer.flush(60)
    producer.close()

    worker = Worker(env, tmp / "worker.log")
    try:
        worker.start()
        _wait_for_scores(pg_url, 201, 180, worker)  # 200 valid + the NUL headline, cleaned
        letters = _dead_letters(broker.bootstrap, env["FINSENT_KAFKA_DEAD_LETTER_TOPIC"], 5)
        assert worker.proc is not None and worker.proc.poll() is None, "the worker died"
        assert worker.stop() == 0
    finally:
        worker.ensure_stopped()

    reasons = sorted(d["reason"] for d in {(d["partition"], d["offset"]): d for d in letters}.values())
    assert reasons == ["bad_json", "bad_json", "id_conflict", "invalid_fields", "oversize"]
    huge = next(d for d in letters if d["reason"] == "oversize")
    assert huge["truncated"] and huge["original_size"] == len(hostile[4])
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        titles = set(conn.execute(select(Document.title)).scalars())
        assert conn.execute(select(func.count()).select_from(Score.__table__)).scalar_one() == 201
    engine.dispose()
    assert "Profit rose  12%" in titles and "A rewritten headline" not in titles
