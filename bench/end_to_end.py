"""End to end through Kafka and PostgreSQL: messages produced to a broker, consumed by a real
``finsent worker`` process, written to a database; throughput, produce-to-row latency and the
worker's memory (part of ``finsent bench``, see :mod:`finsent.bench.throughput`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from finsent.bench.common import percentile
from finsent.messages import NewsMessage
from finsent.settings import Settings
from finsent.tables import Document, Score

__all__ = ["EndToEnd", "as_dict", "bench_texts", "run_end_to_end", "summarise_rss"]


def bench_texts(n: int, *, seed: int = 7, path: Path | None = None) -> list[NewsMessage]:
    """``n`` messages: from a CSV/JSONL file with a ``text`` column when given, else the news simulator."""
    from finsent.ingest.simulator import SCENARIOS, simulate

    start = datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)
    if path is None:
        out: list[NewsMessage] = []
        for message in simulate(SCENARIOS["calm"], start=start, seed=seed):
            out.append(message)
            if len(out) == n:
                return out
    texts = _read_texts(path)  # type: ignore[arg-type]
    if not texts:
        raise ValueError(f"no texts in {path}")
    return [
        NewsMessage(source="bench", title=texts[i % len(texts)], published_at=start, url=f"bench://{i}")
        for i in range(n)
    ]


def _read_texts(path: Path) -> list[str]:
    import csv

    if path.suffix == ".jsonl":
        return [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]
    with path.open(newline="") as fh:
        return [row["text"] for row in csv.DictReader(fh)]


@dataclass
class EndToEnd:
    """One end-to-end run's figures."""

    messages: int
    offered_rate: float | None
    throughput: float
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_p99: float
    rss_mb_start: float
    rss_mb_end: float
    rss_mb_max: float
    # Where the latency goes: produce to scored (broker, batching, inference) and scored to row.
    to_scored_ms_p50: float = 0.0
    to_scored_ms_p95: float = 0.0
    scored_to_row_ms_p50: float = 0.0
    scored_to_row_ms_p95: float = 0.0
    rss_samples: list[float] = field(default_factory=list, repr=False)


class _RssSampler(threading.Thread):
    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process(pid)
        self.every_s = every_s
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            try:
                # The worker and its children: with FINSENT_MODEL_INFERENCE_PROCESS the model lives in one.
                family = [self.proc, *self.proc.children(recursive=True)]
                self.samples.append(sum(_rss(p) for p in family) / 2**20)
            except Exception:  # noqa: BLE001 - the process ended
                return


def _rss(process: Any) -> int:
    try:
        return int(process.memory_info().rss)
    except Exception:  # noqa: BLE001 - a child that just ended holds no memory
        return 0


def _count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Score.__table__)).scalar_one())
    finally:
        engine.dispose()


def _produce(bootstrap: str, topic: str, messages: Sequence[NewsMessage], rate: float | None) -> None:
    from finsent.kafka import make_producer

    producer = make_producer(bootstrap, linger_ms=5, compression_type=None)
    origin = time.perf_counter()
    for i, message in enumerate(messages):
        if rate:
            delay = origin + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        # fetched_at doubles as the produce timestamp: the row's ingested_at minus it is produce-to-row.
        stamped = message.model_copy(update={"fetched_at": datetime.now(timezone.utc)})
        producer.send(topic, key=message.id.encode(), value=stamped.model_dump_json().encode())
    producer.flush(120)
    producer.close()


def run_end_to_end(
    settings: Settings,
    *,
    bootstrap: str,
    db_url: str,
    messages: Sequence[NewsMessage],
    rate: float | None,
    model_path: str,
    extra_env: dict[str, str] | None = None,
    timeout_s: float = 1800,
    workers: int = 1,
) -> EndToEnd:
    """Produce ``messages`` (at ``rate``/s or as fast as possible) through real worker processes into ``db_url``.

    ``workers`` processes join one consumer group and share the topic's partitions; memory is
    sampled on the first.
    """
    from finsent.kafka import ensure_topics
    from finsent.stream.broker import free_port

    run = uuid.uuid4().hex[:8]
    raw = f"bench-raw-{run}"
    ensure_topics(bootstrap, [raw], partitions=settings.kafka.partitions)
    env = {
        **os.environ,
        "FINSENT_KAFKA_BOOTSTRAP": bootstrap,
        "FINSENT_KAFKA_RAW_TOPIC": raw,
        "FINSENT_KAFKA_SCORED_TOPIC": f"bench-scored-{run}",
        "FINSENT_KAFKA_DEAD_LETTER_TOPIC": f"bench-dead-{run}",
        "FINSENT_KAFKA_CONSUMER_GROUP": f"bench-{run}",
        "FINSENT_DATABASE_URL": db_url,
        "FINSENT_MODEL_PATH": model_path,
        "FINSENT_STREAM_WEB_PORT": str(free_port()),
        "FINSENT_DATA_DIR": tempfile.mkdtemp(prefix="finsent-bench-"),
        **(extra_env or {}),
    }
    procs, ports = [], []
    for i in range(workers):
        log = open(Path(env["FINSENT_DATA_DIR"]) / f"worker-{i}.log", "wb")
        each = {**env, "FINSENT_STREAM_WEB_PORT": str(free_port())} if i else env
        ports.append(int(each["FINSENT_STREAM_WEB_PORT"]))
        procs.append(subprocess.Popen([sys.executable, "-m", "finsent.cli", "worker"], env=each, stdout=log, stderr=log))
    worker = procs[0]
    sampler = _RssSampler(worker.pid)
    sampler.start()
    warm_index = 0
    try:
        # Warm-up: the worker has joined its group and loaded the model once one row exists.
        base = _count(db_url)
        _produce(bootstrap, raw, [messages[0].model_copy(update={"id": f"warmup-{run}", "url": None})], None)
        _wait(db_url, base + 1, procs, timeout_s=180)
        if workers > 1:
            # One scored row proves one worker is up; the others must have joined too, and the
            # group settled, or the run would time a rebalance.
            _wait_ready(ports, procs, timeout_s=120)
        warm_index = len(sampler.samples)
        rss_start = sampler.samples[-1] if sampler.samples else 0.0
        started = datetime.now(timezone.utc)
        _produce(bootstrap, raw, messages, rate)
        _wait(db_url, base + 1 + len(messages), procs, timeout_s=timeout_s)
    finally:
        sampler.stop.set()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
    ids = [m.id for m in messages]
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Document.fetched_at, Document.ingested_at, Score.scored_at)
            .join(Score, Score.document_id == Document.id)
            .where(Document.id.in_(ids))
        ).all()
    engine.dispose()
    latencies = [(ingested - fetched).total_seconds() * 1000 for fetched, ingested, _ in rows]
    to_scored = [(scored - fetched).total_seconds() * 1000 for fetched, _, scored in rows]
    to_row = [(ingested - scored).total_seconds() * 1000 for _, ingested, scored in rows]
    last = max(ingested for _, ingested, _ in rows)
    samples = sampler.samples[max(0, warm_index - 1) :] or [0.0]
    return EndToEnd(
        messages=len(rows),
        offered_rate=rate,
        throughput=len(rows) / max((last - started).total_seconds(), 1e-9),
        latency_ms_p50=percentile(latencies, 50),
        latency_ms_p95=percentile(latencies, 95),
        latency_ms_p99=percentile(latencies, 99),
        rss_mb_start=rss_start,
        rss_mb_end=samples[-1],
        rss_mb_max=max(samples),
        to_scored_ms_p50=percentile(to_scored, 50),
        to_scored_ms_p95=percentile(to_scored, 95),
        scored_to_row_ms_p50=percentile(to_row, 50),
        scored_to_row_ms_p95=percentile(to_row, 95),
        rss_samples=samples,
    )


def _wait(db_url: str, target: int, workers: Sequence[subprocess.Popen[bytes]], *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _count(db_url) >= target:
            return
        for worker in workers:
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited with {worker.returncode}")
        time.sleep(0.5)  # a count(*) per poll: keep the bench's own load on the database small
    raise TimeoutError(f"{target} rows not reached in {timeout_s}s")


def _wait_ready(ports: Sequence[int], workers: Sequence[subprocess.Popen[bytes]], *, timeout_s: float) -> None:
    """Until every worker's /readyz answers 200 (in the group, partitions assigned, not rebalancing)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    pending = list(ports)
    while pending and time.monotonic() < deadline:
        for port in list(pending):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
                    if answer.status == 200:
                        pending.remove(port)
            except (urllib.error.URLError, OSError):
                pass
        if any(w.poll() is not None for w in workers):
            raise RuntimeError("a worker exited while the group formed")
        time.sleep(0.5)
    if pending:
        raise TimeoutError(f"workers on ports {pending} not ready in {timeout_s}s")


def summarise_rss(samples: Sequence[float]) -> dict[str, float]:
    """Memory growth between the first and last fifth of a run (flat means close to zero)."""
    if len(samples) < 10:
        return {"growth_mb": 0.0}
    fifth = max(1, len(samples) // 5)
    return {"growth_mb": statistics.median(samples[-fifth:]) - statistics.median(samples[:fifth])}


def as_dict(result: EndToEnd) -> dict:
    data = asdict(result)
    data.pop("rss_samples")
    data.update(summarise_rss(result.rss_samples))
    return data
