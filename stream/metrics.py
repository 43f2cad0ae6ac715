"""Prometheus metrics of the worker (served on the Faust web port at /metrics)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

__all__ = [
    "BATCH_SIZE",
    "CONSUMER_LAG",
    "DEAD_LETTERS",
    "END_TO_END_SECONDS",
    "INFERENCE_SECONDS",
    "MESSAGES",
    "PARTITION_RESETS",
    "PARTITION_STALLS",
    "ROWS_WRITTEN",
    "WRITE_SECONDS",
    "observe_lag",
    "render",
]

MESSAGES = Counter("finsent_worker_messages_total", "Messages processed, by outcome.", ["outcome"])
ROWS_WRITTEN = Counter("finsent_worker_scores_written_total", "New score rows committed.")
INFERENCE_SECONDS = Histogram("finsent_worker_inference_seconds", "Classifier time per micro-batch.")
WRITE_SECONDS = Histogram("finsent_worker_write_seconds", "Database write time per micro-batch.")
BATCH_SIZE = Histogram(
    "finsent_worker_batch_size", "Messages per micro-batch.", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
)
DEAD_LETTERS = Counter("finsent_worker_dead_letters_total", "Dead letters, by reason.", ["reason"])
END_TO_END_SECONDS = Histogram(
    "finsent_worker_produce_to_row_seconds",
    "From the record's Kafka timestamp (when it was produced) to its batch being durably written and acked.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
CONSUMER_LAG = Gauge(
    "finsent_worker_consumer_lag",
    "Records between the last one read and the broker's log end (high-water mark of the latest fetch).",
    ["topic", "partition"],
)
PARTITION_RESETS = Counter(
    "finsent_worker_partition_resets_total",
    "Partitions re-read from their start because the broker's log end fell below what was read (data loss).",
    ["topic", "partition"],
)

PARTITION_STALLS = Counter(
    "finsent_worker_partition_stalls_total",
    "Partitions found with records waiting and nothing read while the worker was idle, and resumed.",
    ["topic", "partition"],
)


def observe_lag(views: Mapping[Any, Any]) -> None:
    """Set the lag gauge of each partition from its view (read offset, high-water mark)."""
    for tp, view in views.items():
        if view.highwater is not None:
            read_next = view.read + 1 if view.read is not None else (view.committed or 0)
            CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, view.highwater - read_next))


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
