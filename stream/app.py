"""The Faust worker: raw topic -> micro-batches -> classifier -> database -> scored topic.

Delivery is at-least-once with idempotent writes. The acknowledgement discipline is what
keeps it lossless on this and any broker (see docs/broker.md):

- ``noack_take``: Faust does not ack a batch by itself; each event is acked only after its
  batch is durably in the database and its dead letters and scored records were delivered.
- No exception escapes the agent: Faust would restart the actor and commit the failed
  batch. Transient database errors are retried in place; anything else ends the process
  hard, which behaves like SIGKILL (safe: nothing unwritten was acked).
- ``stream_wait_empty``: on SIGTERM the batch in flight finishes before the final commit.
- No Faust Tables: their changelog recovery races the seek and drops input on restart.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from finsent.db import make_engine, make_sessionmaker
from finsent.kafka import bootstrap_servers
from finsent.kafka_security import ssl_context
from finsent.messages import DeadLetter, NewsMessage, ScoredMessage
from finsent.model.scoring import Predictor, score_messages, with_ticker_sentiments
from finsent.settings import Settings
from finsent.stories import StoryOptions
from finsent.stream import metrics
from finsent.stream.coalesce import Coalescer
from finsent.stream.pipeline import RawRecord, persist_with_retry, triage
from finsent.stream.recovery import BrokerLossGuard
from finsent.tickers import TickerMatcher

__all__ = ["BackgroundPredictor", "BatchProcessor", "create_app", "load_predictor"]

log = logging.getLogger(__name__)


FIRST_BATCH = 32  # messages in a worker's first batch at most (then up to FINSENT_STREAM_MAX_BATCH)


def _key(message: ScoredMessage) -> bytes:
    # Keyed by ticker so one company's scores stay in order downstream.
    return (message.tickers[0] if message.tickers else message.id).encode()


@dataclass
class Prepared:
    """A scored batch waiting to be written."""

    scored: list[ScoredMessage]
    dead: list[DeadLetter]
    origin: dict[int, RawRecord]  # id(scored item) -> the record it came from


@dataclass
class BatchProcessor:
    """Processes one micro-batch end to end; never raises for bad data."""

    settings: Settings
    predictor: Predictor
    sessions: sessionmaker[Session]
    scored_topic: Any
    dead_letter_topic: Any
    should_stop: Callable[[], bool] = lambda: False
    matcher: TickerMatcher | None = None  # None: the configured watchlist (FINSENT_TICKERS_*)
    stories: StoryOptions | None = None  # None: the configured stories (FINSENT_STORIES_*)
    _infer: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="infer"))
    _write: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="write"))

    def __post_init__(self) -> None:
        if self.matcher is None:
            self.matcher = TickerMatcher.from_settings(self.settings.tickers)
        if self.stories is None:
            self.stories = StoryOptions.from_settings(self.settings.stories)

    def _score(self, messages: list[NewsMessage]) -> list[ScoredMessage]:
        """Tickers found in the text (as ingest, replay and backfill find them), then the model's scores."""
        assert self.matcher is not None  # set in __post_init__
        messages = [self.matcher.enrich(m) for m in messages]
        scored = score_messages(self.predictor, messages)
        return with_ticker_sentiments(self.predictor, scored, [self.matcher.mentions(m.text) for m in messages])

    async def prepare(self, records: list[RawRecord]) -> Prepared:
        """Triage and score a batch (inference in its thread); nothing is written yet."""
        cfg = self.settings.stream
        sorted_out = triage(records, max_bytes=cfg.max_payload_bytes, max_text_chars=cfg.max_text_chars)
        loop = asyncio.get_running_loop()
        with metrics.INFERENCE_SECONDS.time():
            scored = await loop.run_in_executor(self._infer, self._score, [m for _, m in sorted_out.valid])
        origin = {id(s): r for s, (r, _) in zip(scored, sorted_out.valid, strict=True)}
        return Prepared(scored, list(sorted_out.dead), origin)

    async def commit(self, batch: Prepared) -> None:
        """Write durably, then deliver dead letters and scored records; returns when all of it is done."""
        loop = asyncio.get_running_loop()
        max_backoff = self.settings.stream.write_retry_max_s
        with metrics.WRITE_SECONDS.time():
            result, rejected = await loop.run_in_executor(
                self._write,
                lambda: persist_with_retry(
                    self.sessions, batch.scored, max_backoff_s=max_backoff, should_stop=self.should_stop,
                    stories=self.stories,
                ),
            )
        dead = batch.dead
        conflict_error = "id already stored with other source, title or body; the stored version is kept"
        for item, reason, error in [
            *((item, "db_rejected", error) for item, error in rejected),
            *((item, "id_conflict", conflict_error) for item in result.conflicts),
        ]:
            record = batch.origin[id(item)]
            dead.append(
                DeadLetter.of(
                    record.value or b"", reason=reason, error=error,
                    topic=record.topic, partition=record.partition, offset=record.offset,
                )
            )  # fmt: skip
        rejected_ids = {id(item) for item, _ in rejected} | {id(item) for item in result.conflicts}
        published = [s for s in batch.scored if id(s) not in rejected_ids]
        await self._deliver_until_acked(published, dead)
        metrics.MESSAGES.labels("scored").inc(len(published))
        metrics.MESSAGES.labels("dead_letter").inc(len(dead))
        for letter in dead:
            metrics.DEAD_LETTERS.labels(letter.reason).inc()
        metrics.ROWS_WRITTEN.inc(result.scores)
        if dead:
            log.info("dead letters", extra={"count": len(dead), "reasons": sorted({d.reason for d in dead})})

    async def process(self, records: list[RawRecord]) -> None:
        """Prepare and commit one batch (no overlap)."""
        await self.commit(await self.prepare(records))

    async def _deliver_until_acked(self, scored: list[ScoredMessage], dead: list[DeadLetter]) -> None:
        """Deliver, and while the broker is away deliver again (backoff capped at ``write_retry_max_s``).

        The batch is already in the database and its input is not acked, so waiting costs nothing
        but time; exiting would cost a restart (and the group join) once the broker is back. A
        retry can publish a scored record twice: consumers dedup on (id, model_version). A stop
        request during the outage ends the wait with the input still unacked.
        """
        from aiokafka.errors import KafkaError

        delay = 0.1
        while True:
            try:
                await self._deliver(scored, dead)
                return
            except (KafkaError, OSError) as exc:
                if self.should_stop():
                    raise
                log.warning(
                    "broker unavailable; delivering the batch again",
                    extra={"retry_in_s": round(delay, 2), "error": f"{type(exc).__name__}: {str(exc)[:200]}"},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.stream.write_retry_max_s)

    async def _deliver(self, scored: list[ScoredMessage], dead: list[DeadLetter]) -> None:
        futures = []
        for letter in dead:
            futures.append(
                await self.dead_letter_topic.send(
                    key=f"{letter.topic}:{letter.partition}:{letter.offset}".encode(),
                    value=letter.model_dump_json().encode(),
                    force=True,
                )
            )
        if self.settings.stream.publish_scored:
            for message in scored:
                futures.append(
                    await self.scored_topic.send(key=_key(message), value=message.model_dump_json().encode(), force=True)
                )
        if futures:
            await asyncio.gather(*futures)  # delivered (acks=all) before the input is acked


def _credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """The worker's share of the Kafka security settings: the same values every kafka-python client gets."""
    kafka = settings.kafka
    context = ssl_context(kafka) if kafka.uses_tls else None
    if kafka.security_protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
            ssl_context=context,
            mechanism=kafka.sasl_mechanism,
        )
    return faust.SSLCredentials(context) if context is not None else None


def _faust_config(settings: Settings) -> dict[str, Any]:
    kafka = settings.kafka
    return {
        "broker_credentials": _credentials(settings),
        "broker": [f"kafka://{server.strip()}" for server in bootstrap_servers(kafka).split(",")],
        "value_serializer": "raw",
        "key_serializer": "raw",
        "store": "memory://",
        "datadir": str(Path(settings.data_dir) / "faust"),
        "topic_partitions": kafka.partitions,
        "topic_replication_factor": kafka.replication_factor,
        "consumer_auto_offset_reset": "earliest",
        "stream_wait_empty": True,
        "broker_session_timeout": kafka.session_timeout_s,
        "broker_heartbeat_interval": kafka.heartbeat_interval_s,
        "consumer_group_instance_id": kafka.group_instance_id,
        "broker_commit_interval": 1.0,
        "producer_acks": -1,
        "web_port": settings.stream.web_port,
        "web_bind": settings.stream.web_bind,
        "web_in_thread": False,
    }


def set_fetch_max_wait(ms: int) -> None:
    """Make Faust's consumers wait at most ``ms`` for a fetch (Faust hardcodes 1,500 ms).

    Apache Kafka answers a fetch as soon as one byte is there, so the wait only bounds idle polls.
    Tansu answers at the deadline: with 1,500 ms a headline waited 440 ms (p50) before the worker
    saw it; with 100 ms, 4 ms (measured on loopback, docs/broker.md).
    """
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    create = getattr(AIOKafkaConsumerThread._create_worker_consumer, "__wrapped__", None)
    create = create or AIOKafkaConsumerThread._create_worker_consumer

    @functools.wraps(create)
    def _create(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        consumer._fetch_max_wait_ms = ms  # read when the consumer starts its fetcher
        return consumer

    AIOKafkaConsumerThread._create_worker_consumer = _create  # type: ignore[method-assign]


def load_predictor(settings: Settings) -> Predictor:
    """The configured classifier, loaded before the worker joins its group."""
    from finsent.model.startup import load_scoring_engine

    if settings.model.inference_process:
        from finsent.logs import settings_secrets
        from finsent.model.inference_process import InferenceProcess, LogSetup

        logs = LogSetup(settings.log_level, settings.log_format, tuple(s for s in settings_secrets(settings) if s))
        model: Any = InferenceProcess(functools.partial(load_scoring_engine, settings), logs=logs)
    else:
        model = load_scoring_engine(settings)
    if not model.has_sentiment:
        raise ValueError(f"model {settings.model.path} has no sentiment head; the worker needs one")
    return model


class BackgroundPredictor:
    """The configured classifier, loaded in a thread while the worker starts and joins its group.

    On a restart the consumer-group join (seconds on Tansu: the broker holds every JoinGroup)
    and the model load (torch import, weights, engine set-up) then overlap instead of adding up.
    The first batch waits for the model in the inference thread, never on the event loop. A load
    that fails ends the process loudly (exit status 2) before anything could be acked.
    """

    def __init__(self, load: Callable[[], Predictor]) -> None:
        self._ready = threading.Event()
        self._model: Predictor | None = None
        self._thread = threading.Thread(target=self._load, args=(load,), name="model-load", daemon=True)
        self._thread.start()

    def _load(self, load: Callable[[], Predictor]) -> None:
        try:
            self._model = load()
        except BaseException:  # noqa: BLE001 - nothing was consumed yet; say why and stop
            log.critical("the model could not be loaded; exiting", exc_info=True)
            logging.shutdown()
            os._exit(2)
        log.info("model ready", extra={"model_version": self._model.version})
        self._ready.set()

    @property
    def loaded(self) -> bool:
        return self._ready.is_set()

    def get(self) -> Predictor:
        self._ready.wait()
        assert self._model is not None
        return self._model

    @property
    def version(self) -> str:
        return self.get().version

    def predict(self, texts: Sequence[str]) -> Sequence[Any]:
        return self.get().predict(texts)

    def __getattr__(self, name: str) -> Any:
        # Everything else a predictor offers (tasks, logits: the per-ticker entity head reads
        # them) comes from the loaded model; private names stay private so copying cannot block.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.get(), name)


def create_app(settings: Settings, predictor: Predictor, sessions: sessionmaker[Session] | None = None) -> faust.App:
    """Declare the app, its topics and the scoring agent."""
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    set_fetch_max_wait(settings.kafka.fetch_max_wait_ms)
    app = faust.App(settings.kafka.consumer_group, **_faust_config(settings))
    raw = app.topic(settings.kafka.raw_topic, value_type=bytes, key_type=bytes, partitions=settings.kafka.partitions)
    scored = app.topic(settings.kafka.scored_topic, value_type=bytes, key_type=bytes, partitions=settings.kafka.partitions)
    dead = app.topic(settings.kafka.dead_letter_topic, value_type=bytes, key_type=bytes, partitions=settings.kafka.partitions)
    history = app.topic(settings.kafka.backfill_topic, value_type=bytes, key_type=bytes, partitions=settings.kafka.partitions)
    sessions = sessions or make_sessionmaker(make_engine(settings.database))
    # Read from the writer thread: a stop request ends the write retry loop during a database outage.
    processor = BatchProcessor(settings, predictor, sessions, scored, dead, should_stop=lambda: app.should_stop)
    # A model still loading in the background is not waited for here: the group join goes on meanwhile.
    version = predictor.version if getattr(predictor, "loaded", True) else "(loading)"
    log.info("worker configured", extra={"model_version": version, "config": settings.redacted()})

    def _die(_: BaseException | None = None) -> None:
        log.critical("batch failed; exiting without acking it", exc_info=True)
        logging.shutdown()
        sys.stderr.flush()
        os._exit(70)

    async def _commit_then_ack(batch: Prepared, events: list[Any]) -> None:
        try:
            await processor.commit(batch)
        except asyncio.CancelledError:
            raise
        except BaseException:  # noqa: BLE001 - see module docstring: never let Faust ack a failed batch
            _die()
        now = time.time()
        for event in events:
            event.ack()
            if event.message.timestamp:
                metrics.END_TO_END_SECONDS.observe(max(0.0, now - event.message.timestamp))

    in_flight = [0]  # batches taken and not yet acked; the broker-loss guard waits for them
    live_in_flight = [0]  # live batches among them: backfill waits while there is one

    scoring = [0]  # live batches handed to the model and not yet scored
    gate: Coalescer[Any] = Coalescer(settings.stream.max_batch)
    inflight: deque[asyncio.Task[None]] = deque()  # live batches handed over, in input order
    first = [True]

    async def _score_then_write(
        records: list[RawRecord], events: list[Any], before: asyncio.Task[None] | None, *, live: bool = False
    ) -> None:
        try:
            try:
                batch = await processor.prepare(records)
            except asyncio.CancelledError:
                raise
            except BaseException:  # noqa: BLE001 - see module docstring
                _die()
            if live:
                scoring[0] -= 1
                _hand_over()  # the model is free: what arrived meanwhile goes now
            if before is not None:
                await before  # writes (and acks) stay in input order
            await _commit_then_ack(batch, events)
        finally:
            in_flight[0] -= 1

    def _records(events: Any) -> list[RawRecord]:
        return [
            RawRecord(
                value=e.message.value,
                topic=e.message.topic,
                partition=e.message.partition,
                offset=e.message.offset,
                key=e.message.key,
            )
            for e in events
        ]

    async def _live(records: list[RawRecord], events: list[Any], before: asyncio.Task[None] | None) -> None:
        try:
            await _score_then_write(records, events, before, live=True)
        finally:
            live_in_flight[0] -= 1

    def _hand_over() -> None:
        """Give the model what the gate holds, as its rule says (stream.coalesce); runs on the loop."""
        while gate.ready(scoring=scoring[0], in_flight=sum(not t.done() for t in inflight)):
            # After a (re)start the backlog fills the first take at once; its head goes ahead as
            # a small batch of its own, so scoring visibly resumes about a second sooner (restart
            # to first score, docs/reliability.md). Same order, same acks.
            events = gate.take(FIRST_BATCH if first[0] else None)
            first[0] = False
            before = inflight[-1] if inflight else None
            metrics.BATCH_SIZE.observe(len(events))
            in_flight[0] += 1
            live_in_flight[0] += 1
            scoring[0] += 1
            task = asyncio.ensure_future(_live(_records(events), events, before))
            task.add_done_callback(lambda _: _hand_over())  # a write finished: a slot is free
            inflight.append(task)

    @app.agent(raw)
    async def score_news(stream: faust.StreamT[bytes]) -> None:
        # Three stages overlap: batch N+2 is collected while N+1 is scored and N is written.
        # Faust's take collects only while this loop waits on it, so it polls in short takes
        # and the gate decides when the model gets them: at once while it is idle, as one full
        # batch while it is busy. At most two batches are in flight and the gate holds at most
        # one more, so memory stays bounded when the model or the database is the slow part.
        cfg = settings.stream
        try:
            async for taken in stream.noack_take(cfg.max_batch, within=cfg.max_wait_s):
                gate.add(list(taken))
                _hand_over()
                while inflight and inflight[0].done():
                    await inflight.popleft()  # re-raises what a batch raised
                while gate.full() and inflight:
                    await inflight.popleft()
                    _hand_over()
        finally:
            # A clean stop finishes what is in flight, so nothing scored is left unacked; what the
            # gate still holds was never handed over and stays unacked for the next owner.
            while inflight:
                await asyncio.shield(inflight.popleft())

    @app.agent(history)
    async def score_history(stream: faust.StreamT[bytes]) -> None:
        # Below live news: a backfill batch starts only when no live batch is in flight, and
        # backfill batches are small, so live news waits for at most one of them. The same
        # processor, the same idempotent writes, acks after the write: N workers in the group
        # share a backfill's partitions exactly as they share live news.
        cfg = settings.stream
        async for events in stream.noack_take(cfg.backfill_max_batch, within=cfg.max_wait_s):
            while (live_in_flight[0] > 0 or gate.pending) and not app.should_stop:
                await asyncio.sleep(0.02)
            records = _records(events)
            metrics.BATCH_SIZE.observe(len(records))
            in_flight[0] += 1
            await asyncio.shield(_score_then_write(records, list(events), None))

    # Events the gate holds are taken and unacked: in flight for the guard too.
    guard = BrokerLossGuard(
        app,
        in_flight=lambda: in_flight[0] + (1 if gate.pending else 0),
        settle_s=max(0.6, 2 * settings.stream.max_wait_s + 0.2),
    )

    @app.task
    async def _watch_for_broker_loss() -> None:
        await guard.run()

    @app.page("/metrics")
    async def _metrics(web: Any, request: Any) -> Any:
        body, content_type = metrics.render()
        # aiohttp refuses a charset inside content_type; Prometheus' type carries one, so it goes as a header.
        return web.bytes(body, headers={"Content-Type": content_type})

    @app.page("/healthz")
    async def _alive(web: Any, request: Any) -> Any:
        # Liveness: the event loop answers. A wedged worker stops answering and is restarted.
        return web.json({"status": "alive"})

    def _database_answers() -> bool:
        try:
            with sessions() as session:
                session.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False

    @app.page("/readyz")
    async def _ready(web: Any, request: Any) -> Any:
        # Readiness: in the consumer group with partitions to read, not rebalancing, database reachable.
        problems = []
        if not getattr(predictor, "loaded", True):
            problems.append("model loading")
        if app.consumer is None or app.rebalancing:
            problems.append("joining the consumer group")
        else:
            try:
                if not app.consumer.assignment():
                    problems.append("no partitions assigned")
            except Exception:  # noqa: BLE001 - the consumer is not started yet
                problems.append("consumer not started")
        loop = asyncio.get_running_loop()
        try:
            ok = await asyncio.wait_for(loop.run_in_executor(None, _database_answers), timeout=3.0)
        except asyncio.TimeoutError:
            ok = False
        if not ok:
            problems.append("database unreachable")
        body = json.dumps({"status": "not ready" if problems else "ready", "problems": problems}).encode()
        return web.bytes(body, content_type="application/json", status=503 if problems else 200)

    return app
