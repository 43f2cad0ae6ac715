"""The ingest producer through a broker outage, on the real embedded broker (restarted empty).

Found by the full-size broker-outage fault scenario: a publisher built while the broker was down
died in kafka-python's constructor (it bootstraps there and gives up after its timeout), and one
that kept resending its still-buffered records piled copies behind them until no round was ever
acknowledged within its wait.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from finsent.ingest.producer import Publisher
from finsent.kafka import ensure_topics
from finsent.messages import NewsMessage
from finsent.stream.broker import EmbeddedBroker, free_port
from tests.utils.kafka import consume, values

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def _messages(n: int, tag: str) -> list[NewsMessage]:
    return [
        NewsMessage(
            id=f"{tag}-{i}", source="wire", title=f"Company {i} reports quarterly results ({tag})",
            published_at=T0 + timedelta(seconds=i),
        )  # fmt: skip
        for i in range(n)
    ]


def _publish_in_thread(publisher: Publisher, messages: list[NewsMessage]) -> tuple[threading.Thread, list, threading.Event]:
    acked: list[NewsMessage] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=lambda: acked.extend(publisher.publish_until_acked(messages, stop, max_backoff_s=0.5)), daemon=True
    )
    thread.start()
    return thread, acked, stop


def test_a_publisher_built_during_an_outage_sends_everything_once_the_broker_is_back() -> None:
    port = free_port()
    broker = EmbeddedBroker(port=port)
    messages = _messages(300, "lazy")
    # The broker is not there yet: the first bootstraps (1 s each) fail, and must not end the publisher.
    publisher = Publisher.lazy(
        f"127.0.0.1:{port}", "raw", ack_timeout_s=1.0,
        bootstrap_timeout_ms=1000, enable_idempotence=False, compression_type=None,
    )  # fmt: skip
    thread, acked, stop = _publish_in_thread(publisher, messages)
    try:
        time.sleep(3.0)
        assert thread.is_alive() and not acked
        broker.start()
        ensure_topics(broker.bootstrap, ["raw"], partitions=2)
        thread.join(60)
        assert not thread.is_alive(), "the publisher never had its messages acknowledged"
        assert sorted(m.id for m in acked) == sorted(m.id for m in messages)
        stored = values(consume(broker.bootstrap, "raw", expect=len(messages)))
        assert sorted(v["id"] for v in stored) == sorted(m.id for m in messages)  # each once
    finally:
        stop.set()
        publisher.close(timeout_s=2)
        broker.stop()


def test_records_buffered_through_an_outage_are_waited_for_not_sent_again() -> None:
    broker = EmbeddedBroker().start()
    ensure_topics(broker.bootstrap, ["raw"], partitions=2)
    publisher = Publisher.lazy(broker.bootstrap, "raw", ack_timeout_s=0.3, enable_idempotence=False, compression_type=None)
    publisher.publish(_messages(5, "warm"))  # built and connected before the outage
    broker.stop(timeout_s=0.1)
    messages = _messages(2000, "buffered")
    # Each wait (0.3 s) is far shorter than the outage: before the fix every round added another copy.
    thread, acked, stop = _publish_in_thread(publisher, messages)
    try:
        time.sleep(4.0)
        assert not acked
        broker.start()
        ensure_topics(broker.bootstrap, ["raw"], partitions=2)
        thread.join(90)
        assert not thread.is_alive(), "the publisher never had its messages acknowledged"
        assert len(acked) == len(messages)
        ids = [v["id"] for v in values(consume(broker.bootstrap, "raw", expect=len(messages), settle_s=2.0))]
        assert set(ids) == {m.id for m in messages}
        # kafka-python may retry a request it sent (at-least-once), but never a copy per round.
        assert len(ids) < 1.1 * len(messages)
    finally:
        stop.set()
        publisher.close(timeout_s=2)
        broker.stop()
