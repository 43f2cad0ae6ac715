"""What every fault scenario stands on: its own Tansu, a temporary PostgreSQL database behind a
cuttable proxy, ``finsent worker`` as a real subprocess, and counting by SQL and topic reads.

Each scenario gets fresh topics, group and database, so nothing it counts comes from another.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from finsent.bench.common import temporary_database
from finsent.bench.faults.proxy import TcpProxy
from finsent.stream.broker import EmbeddedBroker, free_port
from finsent.tables import Document, Rollup, Score

__all__ = ["Counts", "Stack", "WorkerProcess", "news_payloads", "wait_until"]

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc)
_TICKERS = ("AAPL", "TSLA", "JPM", "XOM", "NVDA", "MSFT", "AMZN", "META")
_SCORED = re.compile(r'^finsent_worker_messages_total\{outcome="scored"\} ([0-9.e+]+)$', re.MULTILINE)


def wait_until(check: Callable[[], bool], *, timeout_s: float, every_s: float = 0.2, what: str = "condition") -> float:
    """Poll ``check`` until true; the seconds it took. TimeoutError naming ``what`` otherwise."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{what} not reached within {timeout_s:.0f} s")
        time.sleep(every_s)


def news_payloads(n: int, *, tag: str, start: datetime = T0) -> list[tuple[bytes, bytes, str]]:
    """``n`` valid raw-topic messages as (key, value, id); ids carry ``tag`` so phases can be told apart."""
    out = []
    for i in range(n):
        ticker = _TICKERS[i % len(_TICKERS)]
        doc_id = f"{tag}-{i}"
        value = {
            "id": doc_id,
            "source": "faults",
            "kind": "news" if i % 3 else "comment",
            "title": f"{ticker} shares move as traders weigh results, note {i}",
            "body": "Analysts expect guidance to change. " * (i % 4),
            "url": f"https://news.example/{tag}/{i}",
            "published_at": (start + timedelta(seconds=i % 3600)).isoformat(),
            "tickers": [ticker],
        }
        out.append((ticker.encode(), json.dumps(value).encode(), doc_id))
    return out


@dataclass(frozen=True)
class Counts:
    """What the database holds: documents, score rows, distinct scored documents, and the 'all' rollups' total."""

    documents: int
    scores: int
    distinct: int
    rolled: int


class WorkerProcess:
    """One ``finsent worker`` subprocess with its own web port (its /metrics says when it scored)."""

    def __init__(self, env: dict[str, str], log_path: Path, *, preexec: Callable[[], None] | None = None) -> None:
        self.web_port = free_port()
        self.env = {**env, "FINSENT_STREAM_WEB_PORT": str(self.web_port)}
        self.log_path = log_path
        self.preexec = preexec
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> WorkerProcess:
        log = open(self.log_path, "ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "finsent.cli", "worker"],
            env=self.env,
            stdout=log,
            stderr=log,
            preexec_fn=self.preexec,  # noqa: PLW1509 - only sets a resource limit
        )
        log.close()
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def scored(self) -> float | None:
        """The worker's own count of scored messages, or None while its web server does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/metrics", timeout=1) as response:
                match = _SCORED.search(response.read().decode())
        except OSError:
            return None
        return float(match.group(1)) if match else 0.0

    def wait_first_score(self, timeout_s: float = 120) -> float:
        """Seconds from start to the first batch scored and written (the restart-to-first-score time)."""

        def scored() -> bool:
            if not self.alive:
                raise RuntimeError(f"worker exited with {self.returncode}: {self.tail()}")
            return (self.scored() or 0) > 0

        wait_until(scored, timeout_s=timeout_s, every_s=0.1, what="first score")
        return time.monotonic() - self.started_at

    def kill(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def terminate(self, timeout_s: float = 60) -> tuple[int | None, float]:
        """SIGTERM; (exit status or None if it outlived ``timeout_s``, seconds it took)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None, time.monotonic() - started
        return rc, time.monotonic() - started

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@dataclass
class Stack:
    """Broker + database (through a proxy) + topics for one scenario; use as a context manager."""

    work_dir: Path
    model_path: str
    pg_admin_url: str
    partitions: int = 4
    worker_env: dict[str, str] = field(default_factory=dict)
    broker: EmbeddedBroker = field(init=False)
    proxy: TcpProxy = field(init=False)
    db_url: str = field(init=False)  # direct: for counting
    worker_db_url: str = field(init=False)  # through the proxy: what the processes under test use
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    _exit: ExitStack = field(default_factory=ExitStack, init=False, repr=False)
    _workers: list[WorkerProcess] = field(default_factory=list, init=False, repr=False)

    @property
    def raw_topic(self) -> str:
        return f"faults-raw-{self.run}"

    @property
    def scored_topic(self) -> str:
        return f"faults-scored-{self.run}"

    @property
    def dead_topic(self) -> str:
        return f"faults-dead-{self.run}"

    def __enter__(self) -> Stack:
        from finsent.kafka import ensure_topics

        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.broker = self._exit.enter_context(EmbeddedBroker(log_path=self.work_dir / "tansu.log"))
        self.db_url = self._exit.enter_context(temporary_database(self.pg_admin_url, prefix="finsent_faults"))
        url = make_url(self.db_url)
        self.proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
        self._exit.callback(self.proxy.stop)
        self.worker_db_url = url.set(host="127.0.0.1", port=self.proxy.port).render_as_string(hide_password=False)
        ensure_topics(self.broker.bootstrap, [self.raw_topic, self.scored_topic, self.dead_topic], partitions=self.partitions)
        self._exit.callback(self._stop_workers)
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment of a process under test: this stack's broker, topics, group and proxied database."""
        return {
            **os.environ,
            "FINSENT_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "FINSENT_KAFKA_RAW_TOPIC": self.raw_topic,
            "FINSENT_KAFKA_SCORED_TOPIC": self.scored_topic,
            "FINSENT_KAFKA_DEAD_LETTER_TOPIC": self.dead_topic,
            "FINSENT_KAFKA_CONSUMER_GROUP": f"faults-{self.run}",
            "FINSENT_KAFKA_PARTITIONS": str(self.partitions),
            "FINSENT_DATABASE_URL": self.worker_db_url,
            "FINSENT_MODEL_PATH": self.model_path,
            "FINSENT_MODEL_THREADS": "1",
            "FINSENT_STREAM_MAX_BATCH": "256",
            "FINSENT_DATA_DIR": str(self.work_dir / "var"),
            "FINSENT_LOG_LEVEL": "INFO",
            "OMP_NUM_THREADS": "1",
            **self.worker_env,
            **overrides,
        }

    def prepare_model(self) -> float:
        """``finsent prepare`` with the workers' settings (the deploy step that caches the compiled graph); seconds."""
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "finsent.cli", "prepare"], env=self.env(), capture_output=True, timeout=600
        )
        if done.returncode != 0:
            raise RuntimeError(f"finsent prepare failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")
        return time.monotonic() - started

    def worker(self, name: str, *, preexec: Callable[[], None] | None = None, **env: str) -> WorkerProcess:
        process = WorkerProcess(self.env(**env), self.work_dir / f"{name}.log", preexec=preexec)
        self._workers.append(process)
        return process

    def worker_logs(self) -> list[Path]:
        return sorted({w.log_path for w in self._workers})

    def _stop_workers(self) -> None:
        for process in self._workers:
            process.kill()

    def produce(self, records: Iterable[tuple[bytes | None, bytes]], *, max_request_size: int = 2_000_000) -> int:
        from finsent.kafka import make_producer

        producer = make_producer(self.broker.bootstrap, compression_type=None, max_request_size=max_request_size, linger_ms=20)
        futures = [producer.send(self.raw_topic, key=key, value=value) for key, value in records]
        producer.flush(300)
        producer.close()
        # A record the broker refused would look like a loss downstream: count it here, loudly.
        failed = [f for f in futures if not f.is_done or f.failed()]
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(futures)} records not acknowledged by the broker: {failed[0].exception!r}")
        return len(futures)

    def counts(self, *, ids_like: str | None = None) -> Counts:
        """The database's counts, optionally only for document ids starting with ``ids_like``."""
        engine = create_engine(self.db_url)
        d, s, r = Document.__table__, Score.__table__, Rollup.__table__
        try:
            with engine.connect() as conn:
                doc_q = select(func.count()).select_from(d)
                score_q = select(func.count()).select_from(s)
                distinct_q = select(func.count(func.distinct(s.c.document_id)))
                if ids_like is not None:
                    doc_q = doc_q.where(d.c.id.startswith(ids_like))
                    score_q = score_q.where(s.c.document_id.startswith(ids_like))
                    distinct_q = distinct_q.where(s.c.document_id.startswith(ids_like))
                # Counting stories, a copy of a story already counted goes to `duplicates`: every
                # stored document is in exactly one of the four columns of the 'all' scope.
                rolled = conn.execute(
                    select(func.coalesce(func.sum(r.c.negative + r.c.neutral + r.c.positive + r.c.duplicates), 0))
                    .where(r.c.scope_kind == "all")
                ).scalar_one()
                return Counts(
                    documents=int(conn.execute(doc_q).scalar_one()),
                    scores=int(conn.execute(score_q).scalar_one()),
                    distinct=int(conn.execute(distinct_q).scalar_one()),
                    rolled=int(rolled),
                )
        finally:
            engine.dispose()

    def stored_ids(self) -> set[str]:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return set(conn.execute(select(Score.__table__.c.document_id)).scalars())
        finally:
            engine.dispose()

    def score_count(self) -> int:
        return self.counts().scores

    def read_topic(self, topic: str, *, idle_s: float = 3.0, timeout_s: float = 300) -> list[Any]:
        """Every record on ``topic``, read until nothing new arrives for ``idle_s`` (Tansu's end offsets are unreliable)."""
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=self.broker.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_bytes=64 * 2**20,
            max_partition_fetch_bytes=8 * 2**20,
        )
        records: list[Any] = []
        last_new = time.monotonic()
        deadline = last_new + timeout_s
        try:
            while time.monotonic() < min(deadline, last_new + idle_s):
                for batch in consumer.poll(timeout_ms=300, max_records=10_000).values():
                    if batch:
                        records.extend(batch)
                        last_new = time.monotonic()
        finally:
            consumer.close()
        return records

    def committed(self) -> int:
        """The sum of the group's committed offsets on the raw topic (what the workers acknowledged)."""
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.broker.bootstrap, client_id="faults-admin")
        try:
            group = f"faults-{self.run}"
            offsets = admin.list_group_offsets(group).get(group, {})
        finally:
            admin.close()
        return sum(max(0, meta.offset) for tp, meta in offsets.items() if tp.topic == self.raw_topic)


def scored_topic_duplicates(records: Sequence[Any]) -> tuple[int, int]:
    """(records, distinct (document id, model version)) on the scored topic: the dedup key consumers use."""
    keys = set()
    for record in records:
        value = json.loads(record.value)
        keys.add((value["id"], value["model_version"]))
    return len(records), len(keys)


def non_json_lines(paths: Iterable[Path]) -> list[str]:
    """Log lines that are not one JSON object with level, logger and msg (part 8: one log format)."""
    bad = []
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or not {"level", "logger", "msg"} <= set(record):
                    bad.append(line[:200])
            except ValueError:
                bad.append(line[:200])
    return bad
