"""Part 3, broker outage: the embedded broker killed, down for a while, restarted on the same port.

The worker and an ingest producer (the ``Publisher`` that ``finsent ingest run``/``simulate`` use,
sending through the outage) reconnect by themselves. The embedded broker keeps records in memory
only, so what it held unconsumed at the kill is gone; the scenario counts that loss and checks
that nothing acknowledged after the restart is skipped. Backfill writes to the database only and
does not talk to the broker, so it has nothing to reconnect.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

from finsent.bench.faults.harness import Stack, news_payloads, non_json_lines, wait_until
from finsent.bench.faults.report import Result
from finsent.messages import NewsMessage

__all__ = ["BrokerSize", "FULL", "REDUCED", "run"]


@dataclass(frozen=True)
class BrokerSize:
    before: int  # produced before the kill (part of it still unconsumed when the broker dies)
    during: int  # offered by the ingest producer while the broker is down, acknowledged after its return
    after: int  # produced once it is back
    down_s: float


FULL = BrokerSize(before=20_000, during=2_000, after=10_000, down_s=20.0)
REDUCED = BrokerSize(before=2_000, during=200, after=400, down_s=4.0)


def run(stack: Stack, size: BrokerSize, rng: random.Random) -> Result:
    from finsent.ingest.producer import Publisher
    from finsent.kafka import ensure_topics

    result = Result("broker outage", messages=size.before + size.during + size.after)
    # A slower worker (small batches) so that part of the stream is still unconsumed at the kill.
    stack.produce((k, v) for k, v, _ in news_payloads(size.before, tag="before"))
    worker = stack.worker("worker-1", FINSENT_STREAM_MAX_BATCH="16").start()
    wait_until(lambda: stack.counts(ids_like="before-").distinct >= size.before // 10, timeout_s=300, what="progress")

    stack.broker.stop(timeout_s=0.1)  # SIGTERM then SIGKILL: memory storage dies with it
    killed_at = time.monotonic()
    stored_at_kill = stack.counts(ids_like="before-").distinct

    # The ingest producer sends through the outage: it must retry until the new broker acknowledges.
    during = [NewsMessage.model_validate_json(v) for _, v, _ in news_payloads(size.during, tag="during")]
    acked: list[NewsMessage] = []
    acked_at: list[float] = []  # when the producer's last message was acknowledged
    stop = threading.Event()

    def publish() -> None:
        # Built during the outage, as a restarted `finsent ingest run` would be: it cannot bootstrap
        # until the broker is back, and must not die of that.
        publisher = Publisher.lazy(
            stack.broker.bootstrap, stack.raw_topic, ack_timeout_s=10,
            client_id="finsent-ingest", enable_idempotence=False, compression_type=None,
        )  # fmt: skip
        try:
            acked.extend(publisher.publish_until_acked(during, stop, max_backoff_s=2.0))
            acked_at.append(time.monotonic())
        finally:
            publisher.close()

    sender = threading.Thread(target=publish, name="ingest-producer", daemon=True)
    sender.start()
    time.sleep(max(0.0, size.down_s - (time.monotonic() - killed_at)))
    stack.broker.start()
    restarted_at = time.monotonic()
    ensure_topics(stack.broker.bootstrap, [stack.raw_topic, stack.scored_topic, stack.dead_topic], partitions=stack.partitions)
    stack.produce((k, v) for k, v, _ in news_payloads(size.after, tag="after"))
    sender.join(300)
    stop.set()

    def settled() -> bool:
        return (
            stack.counts(ids_like="after-").distinct >= size.after
            and stack.counts(ids_like="during-").distinct >= len(acked)
        )

    try:
        recovery = wait_until(settled, timeout_s=600, every_s=0.5, what="everything acknowledged after the restart")
    except TimeoutError:
        recovery = float("nan")
    time.sleep(3)
    stored_before = stack.counts(ids_like="before-").distinct
    stored_during = stack.counts(ids_like="during-").distinct
    stored_after = stack.counts(ids_like="after-").distinct
    worker_alive = worker.alive
    worker.terminate()
    counts = stack.counts()
    bad_lines = non_json_lines(stack.worker_logs())

    lost_with_broker = size.before - stored_before
    skipped = (len(acked) - stored_during) + (size.after - stored_after)
    result.faults = f"broker killed, down {size.down_s:.0f} s, restarted empty"
    result.lost = lost_with_broker + skipped
    result.lost_note = f"{lost_with_broker:,} held unconsumed by the memory-only broker, {skipped:,} acknowledged after the restart"
    result.duplicated = counts.scores - counts.distinct
    result.recovery = f"everything acknowledged after the restart stored {recovery + 0.0:.1f} s after it"
    result.check("worker reconnected by itself (still running)", worker_alive)
    result.check("ingest producer had every message acknowledged after the restart", len(acked) == size.during)
    result.check("nothing acknowledged after the restart skipped", skipped == 0)
    result.check("loss only from what the broker held unconsumed", stored_before >= stored_at_kill)
    result.check("no duplicate rows", counts.scores == counts.distinct)
    result.check("logs are JSON lines only", not bad_lines)
    result.details.update(
        {
            "produced before the kill": size.before,
            "stored when the broker died": stored_at_kill,
            "lost with the memory-only broker (held unconsumed)": lost_with_broker,
            "acknowledged after the restart": f"{len(acked)} (producer) + {size.after}",
            "skipped of those": skipped,
            "seconds from restart to the producer's last ack": (
                round(acked_at[0] - restarted_at, 1) if acked_at else "never (not every message acknowledged)"
            ),
            "backfill": "writes to the database only; not affected by a broker outage",
        }
    )
    return result
