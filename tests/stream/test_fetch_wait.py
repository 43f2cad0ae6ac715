"""The worker's consumers wait at most FINSENT_KAFKA_FETCH_MAX_WAIT_MS for a fetch (Faust hardcodes 1,500)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from finsent.stream.app import set_fetch_max_wait


def test_the_wrapper_sets_the_wait_on_every_new_consumer_and_does_not_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    def create(self: Any, transport: Any) -> Any:
        consumer = SimpleNamespace(_fetch_max_wait_ms=1500)
        made.append(consumer)
        return consumer

    monkeypatch.setattr(AIOKafkaConsumerThread, "_create_worker_consumer", create)
    set_fetch_max_wait(100)
    set_fetch_max_wait(77)  # a second app in one process replaces the value, it does not wrap twice
    consumer = AIOKafkaConsumerThread._create_worker_consumer(None, None)
    assert consumer._fetch_max_wait_ms == 77 and len(made) == 1
    assert AIOKafkaConsumerThread._create_worker_consumer.__wrapped__ is create


def test_the_real_consumer_keeps_the_wait_in_the_attribute_we_set() -> None:
    # Guards the private attribute name against an aiokafka upgrade.
    import asyncio

    from aiokafka import AIOKafkaConsumer

    async def make() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=1234)
        return consumer._fetch_max_wait_ms

    assert asyncio.run(make()) == 1234
