"""Reading a topic back in tests: every record on it, and their JSON values."""

from __future__ import annotations

import json
import time
from typing import Any

__all__ = ["consume", "values"]


def consume(
    bootstrap: str, topic: str, *, expect: int, timeout_s: float = 20.0, settle_s: float = 1.0
) -> list[Any]:
    """Every record on the topic: waits for ``expect`` records, then ``settle_s`` more to catch extras."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=200,
    )
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
            if len(records) >= expect:
                settle_until = settle_until or time.monotonic() + settle_s
                if time.monotonic() >= settle_until:
                    break
    finally:
        consumer.close()
    return records


def values(records: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records]
