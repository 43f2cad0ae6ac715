"""Fixtures for ingest tests: settings bound to the session broker and a unique raw topic, and a consumer."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from finsent.settings import IngestSettings, KafkaSettings, Settings
from finsent.stream.broker import EmbeddedBroker


@pytest.fixture()
def raw_topic(unique: str) -> str:
    return f"ingest-raw-{unique}"


@pytest.fixture()
def settings(broker: EmbeddedBroker, raw_topic: str, tmp_path: Path) -> Settings:
    return Settings(
        kafka=KafkaSettings(bootstrap=broker.bootstrap, raw_topic=raw_topic, partitions=3),
        ingest=IngestSettings(state_path=str(tmp_path / "state.db"), user_agent="finsent-test/1.0"),
        data_dir=str(tmp_path / "var"),
    )


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
