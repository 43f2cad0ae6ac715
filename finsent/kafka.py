"""Kafka plumbing shared by producers, the worker and tests: where the broker is, topics, a producer.

Plain Kafka protocol only, so it runs against Apache Kafka in production and the embedded
Tansu broker here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from finsent.kafka_security import client_security
from finsent.settings import KafkaSettings

__all__ = ["bootstrap_servers", "client_options", "ensure_topics", "make_producer", "topic_names"]

log = logging.getLogger(__name__)


def bootstrap_servers(kafka: KafkaSettings) -> str:
    """The configured servers, or the embedded broker's loopback address (``finsent broker``)."""
    return kafka.bootstrap or f"127.0.0.1:{kafka.embedded_port}"


def topic_names(kafka: KafkaSettings) -> list[str]:
    return [kafka.raw_topic, kafka.scored_topic, kafka.dead_letter_topic, kafka.backfill_topic]


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """The configured servers and security options, for any kafka-python or aiokafka client."""
    return {"bootstrap_servers": bootstrap_servers(kafka), **client_security(kafka)}


def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    *,
    partitions: int,
    replication_factor: int = 1,
    security: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet; returns the ones created. ``security``: ``client_security(...)``."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="finsent-admin", request_timeout_ms=10_000, **(security or {})
    )
    try:
        existing = set(admin.list_topics())
        wanted = [t for t in dict.fromkeys(topics) if t not in existing]
        created: list[str] = []
        for topic in wanted:
            try:
                admin.create_topics([NewTopic(topic, partitions, replication_factor)])
                created.append(topic)
            except TopicAlreadyExistsError:  # another process won the race
                pass
        if created:
            log.info("topics created", extra={"topics": created, "partitions": partitions})
        return created
    finally:
        admin.close()


def make_producer(bootstrap: str, **overrides: Any):  # type: ignore[no-untyped-def]
    """A kafka-python producer that only reports success once the broker has the record.

    acks=all with retries. Security options (``client_security``) come in ``overrides``. The idempotent producer (kafka-python 3's default) is switched off: its
    producer-id state does not survive a broker restart on Tansu and the producer then stalls.
    Duplicates after a retry are possible instead, and every consumer writes idempotently.
    """
    from kafka import KafkaProducer

    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": False,
        "retries": 10,
        "retry_backoff_ms": 200,
        "linger_ms": 5,
        "compression_type": "gzip",
        "max_in_flight_requests_per_connection": 1,  # keeps per-key order across retries
        "request_timeout_ms": 30_000,
        "client_id": "finsent-producer",
    }
    config.update(overrides)
    return KafkaProducer(**config)
