"""Publish NewsMessages to the raw topic and report exactly which ones the broker acknowledged.

Keyed by the first ticker (else the id) so that one ticker's items land in one partition, in
order. The producer waits for acks=all; a message counts as sent only when its future resolved.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from finsent.ingest.errors import PublishError
from finsent.messages import NewsMessage

if TYPE_CHECKING:
    from finsent.settings import Settings

__all__ = ["Publisher", "message_key", "raw_json", "serialise"]

log = logging.getLogger(__name__)


def message_key(message: NewsMessage | dict[str, Any]) -> bytes | None:
    """The partition key: first ticker, else the id."""
    if isinstance(message, NewsMessage):
        return (message.tickers[0] if message.tickers else message.id).encode()
    tickers = message.get("tickers")
    if isinstance(tickers, list) and tickers and isinstance(tickers[0], str):
        return tickers[0].strip().lstrip("$").upper().encode()
    ident = message.get("id")
    return str(ident).encode() if ident else None


def serialise(message: NewsMessage) -> bytes:
    """The wire form: the contract's JSON."""
    return message.model_dump_json().encode()


class Publisher:
    """A kafka-python producer bound to one topic."""

    def __init__(
        self,
        producer: Any | None,
        topic: str,
        *,
        ack_timeout_s: float = 60.0,
        factory: Callable[[], Any] | None = None,
    ) -> None:
        if producer is None and factory is None:
            raise ValueError("a producer or a factory that builds one")
        self._producer = producer
        self._factory = factory
        self.topic = topic
        self.ack_timeout_s = ack_timeout_s

    @property
    def producer(self) -> Any:
        """The kafka-python producer, built on first use from ``factory``.

        kafka-python bootstraps in its constructor and raises after ``bootstrap_timeout_ms`` when no
        broker answers, so a publisher started (or restarted) during a broker outage builds it again
        on the next attempt instead of dying with the outage.
        """
        if self._producer is None:
            assert self._factory is not None
            self._producer = self._factory()
        return self._producer

    @classmethod
    def lazy(cls, bootstrap: str, topic: str, *, ack_timeout_s: float = 60.0, **config: Any) -> Publisher:
        """A publisher whose producer is built (and bootstrapped) when it first sends."""
        from finsent.kafka import make_producer

        return cls(None, topic, ack_timeout_s=ack_timeout_s, factory=lambda: make_producer(bootstrap, **config))

    @classmethod
    def connect(
        cls,
        settings: Settings,
        bootstrap: str,
        *,
        topic: str | None = None,
        create_topic: bool = True,
        **overrides: Any,
    ) -> Publisher:
        """A publisher for the raw topic (or ``topic``), creating it with the configured partitions."""
        from finsent.kafka import ensure_topics, make_producer
        from finsent.kafka_security import client_security

        target = topic or settings.kafka.raw_topic
        security = client_security(settings.kafka)
        if create_topic:
            ensure_topics(
                bootstrap,
                [target],
                partitions=settings.kafka.partitions,
                replication_factor=settings.kafka.replication_factor,
                security=security,
            )
        # kafka-python 3 turns idempotence on by default. When a broker loses its producer state
        # (the embedded broker restarted) an idempotent producer retries UnknownProducerId forever
        # and sends nothing more; a plain one recovers in seconds. Duplicates from retries are
        # harmless: every consumer writes idempotently.
        config: dict[str, Any] = {"client_id": "finsent-ingest", "enable_idempotence": False, **security, **overrides}
        return cls(make_producer(bootstrap, **config), target)

    def publish_until_acked(
        self, messages: Sequence[NewsMessage], stop: threading.Event, *, max_backoff_s: float = 30.0
    ) -> list[NewsMessage]:
        """Publish, then resend what the broker refused, backing off, until all are acked or ``stop``.

        A broker outage costs time, never messages or the process: the producer reconnects by itself
        (and is built again if it could not bootstrap) and refused items are offered again. A record
        still waiting in the producer's buffer is waited for, not sent again: resending those piled
        copy after copy behind the first ones during a long outage, so that no round's own records
        were acknowledged within its wait and nothing ever counted as sent. kafka-python ends every
        buffered record, acknowledged or failed, within ``delivery_timeout_ms``. Returns the
        acknowledged messages (all of them unless stopped).
        """
        from kafka.errors import KafkaError

        acked: list[int] = []
        to_send = list(range(len(messages)))
        pending: dict[int, Any] = {}
        delay = 0.5
        while to_send or pending:
            refused: list[int] = []
            error = ""
            try:
                producer = self.producer
            except KafkaError as exc:  # no broker to bootstrap from: try again after the backoff
                refused, error = to_send, f"{type(exc).__name__}: {exc}"
            else:
                for i in to_send:
                    try:
                        pending[i] = producer.send(self.topic, key=message_key(messages[i]), value=serialise(messages[i]))
                    except KafkaError as exc:  # buffer full, record too large
                        refused.append(i)
                        error = f"{type(exc).__name__}: {exc}"
                try:
                    producer.flush(timeout=self.ack_timeout_s)
                except KafkaError as exc:  # timed out: what is not done stays pending
                    error = f"{type(exc).__name__}: {exc}"
            for i, future in list(pending.items()):
                if not future.is_done:
                    continue
                del pending[i]
                if future.succeeded():
                    acked.append(i)
                else:
                    refused.append(i)
                    error = f"{type(future.exception).__name__}: {future.exception}"
            to_send = refused
            if not (to_send or pending):
                break
            log.warning(
                "broker unavailable; retrying",
                extra={
                    "topic": self.topic, "refused": len(to_send), "buffered": len(pending),
                    "retry_in_s": delay, "error": error[:200],
                },
            )  # fmt: skip
            if stop.wait(delay):
                break
            delay = min(delay * 2, max_backoff_s)
        return [messages[i] for i in sorted(acked)]

    def publish(self, messages: Sequence[NewsMessage]) -> list[NewsMessage]:
        """Send and wait for acks; returns the acknowledged messages, raises PublishError if any failed.

        PublishError carries ``acked`` (the ones that did make it) so the caller can still record them.
        """
        acked, failed = self.publish_raw([(message_key(m), serialise(m)) for m in messages])
        ok = [messages[i] for i in acked]
        if failed:
            raise PublishError(
                f"{len(failed)} of {len(messages)} messages not acknowledged: {failed[0][1]}", acked=ok
            )
        return ok

    def publish_raw(
        self, records: Sequence[tuple[bytes | None, bytes]]
    ) -> tuple[list[int], list[tuple[int, str]]]:
        """Send (key, value) records; returns the indexes acknowledged and (index, error) for the rest."""
        from kafka.errors import KafkaError

        futures = []
        failed: list[tuple[int, str]] = []
        for i, (key, value) in enumerate(records):
            try:
                futures.append((i, self.producer.send(self.topic, key=key, value=value)))
            except KafkaError as exc:  # e.g. buffer full, record too large
                failed.append((i, f"{type(exc).__name__}: {exc}"))
        try:
            self.producer.flush(timeout=self.ack_timeout_s)
        except KafkaError as exc:  # timed out: whatever is not done by now counts as not acknowledged
            log.warning("flush timed out", extra={"topic": self.topic, "error": str(exc)})
        acked: list[int] = []
        for i, future in futures:
            if not future.is_done:
                # It may still arrive later; then the item is sent twice (at-least-once), never lost.
                failed.append((i, f"no acknowledgement within {self.ack_timeout_s:g}s"))
                continue
            try:
                future.get(timeout=0)
                acked.append(i)
            except KafkaError as exc:
                failed.append((i, f"{type(exc).__name__}: {exc}"))
        if failed:
            log.warning("broker did not acknowledge", extra={"topic": self.topic, "failed": len(failed)})
        return acked, failed

    def close(self, timeout_s: float = 30.0) -> None:
        """Flush what is buffered and close; gives up after ``timeout_s`` when the broker is gone."""
        from kafka.errors import KafkaError

        if self._producer is None:  # never built: nothing buffered
            return
        try:
            self._producer.close(timeout=timeout_s)  # flushes first
        except KafkaError as exc:
            # Only messages nobody was told are sent can be pending here; they stay unrecorded.
            log.warning(
                "producer closed with unacknowledged messages", extra={"topic": self.topic, "error": str(exc)}
            )


def raw_json(data: dict[str, Any]) -> bytes:
    """A row as JSON bytes, unvalidated (``replay --raw``)."""
    return json.dumps(data, default=str, ensure_ascii=False).encode()
