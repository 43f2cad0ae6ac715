"""A broker that lost its data must not make the worker skip data: detect it, re-read the partition.

When a broker loses a partition's log (the embedded broker restarted: it keeps everything in
memory; or a Kafka cluster lost unreplicated data), the consumer's position and its committed
offset lie beyond the broker's new log end. Apache Kafka answers such a fetch with
OFFSET_OUT_OF_RANGE and the client resets by itself; Tansu answers with no records and no
error, so the worker would wait at its old position and then skip every record written below
it. The guard compares, for each assigned partition, the high-water mark of the latest fetch
response (right on Tansu, unlike ListOffsets "latest", see docs/broker.md) with what was read
and committed; a partition whose log end fell below either is re-read from its start. The
idempotent writes absorb what is read twice.

The reset is done like a rebalance: flow stops, batches in flight finish and are acked and
committed, queued records are dropped, every partition goes back to its committed offset (the
dropped records are read again, not skipped), and the lost one, its book-keeping cleared, to
offset 0 (Kafka moves that to the log start).

The same loop watches for a partition that stalls: records on the broker, nothing in flight,
and the read offset not moving for ``stall_s``. The fault suite's full-size crash loop saw one
after a kill during a two-worker rebalance (the survivor ready, three partitions at lag 0, one
at lag 9,810 with nothing read for ten minutes). Whatever left it paused (Faust's rebalance and
recovery pause every partition and resume them in steps that a second rebalance can cut short),
the remedy is the rebalance's own last step: resume the partitions and the flow and seek to the
committed offsets. A partition that stays stalled after ``max_heals`` of those ends the worker
(exit status 70, nothing unwritten acked) so that its supervisor restarts it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from finsent.stream import metrics

__all__ = ["BrokerLossGuard", "PartitionView", "StallTracker", "confirm_lost", "lost_partitions"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionView:
    """What the worker knows about one partition: last offset read, offset committed, the broker's log end."""

    read: int | None
    committed: int | None
    highwater: int | None


def lost_partitions(views: Mapping[Any, PartitionView]) -> list[Any]:
    """The partitions whose log end lies below what was already read or committed there."""
    lost = []
    for tp, view in views.items():
        if view.highwater is None:
            continue  # nothing fetched since (re)assignment: nothing to compare with
        position = max(
            (view.read + 1) if view.read is not None else 0,
            view.committed if view.committed is not None else 0,
        )
        if position > view.highwater:
            lost.append(tp)
    return sorted(lost)


def confirm_lost(
    suspects: Mapping[Any, int], lost: list[Any], views: Mapping[Any, PartitionView], *, checks: int
) -> tuple[dict[Any, int], list[Any]]:
    """Count how many checks in a row each partition has looked lost; the ones seen ``checks`` times.

    A broker that lost a log stays that way, check after check. Right after a rebalance a
    partition can look lost for a moment (the log end known from an earlier fetch, the offset
    committed since by another worker), and resetting it then would re-read the whole partition
    for nothing: the fault suite saw exactly that. So a partition is reset only once the picture
    has held for ``checks`` checks.
    """
    counts = {tp: suspects.get(tp, 0) + 1 for tp in lost if tp in views}
    return counts, sorted(tp for tp, n in counts.items() if n >= checks)


@dataclass
class StallTracker:
    """Which partitions have had records waiting, and nothing read, for ``stall_s`` while the worker was idle.

    Pure bookkeeping over successive views (tested without a broker): a partition counts as
    waiting when its log end lies beyond the next offset to read; its clock starts when its read
    offset last moved or the worker last had a batch in flight (a batch held through a database
    outage, or live news keeping backfill waiting, is not a stall).
    """

    stall_s: float = 30.0
    _since: dict[Any, tuple[int | None, float]] = field(default_factory=dict)

    def reset(self) -> None:
        self._since = {}

    def stalled(self, views: Mapping[Any, PartitionView], *, now: float, busy: bool) -> list[Any]:
        out = []
        seen: dict[Any, tuple[int | None, float]] = {}
        for tp, view in views.items():
            read_next = view.read + 1 if view.read is not None else (view.committed or 0)
            waiting = view.highwater is not None and view.highwater > read_next
            last = self._since.get(tp)
            if not waiting or busy or last is None or last[0] != view.read:
                seen[tp] = (view.read, now)
                continue
            seen[tp] = last
            if now - last[1] >= self.stall_s:
                out.append(tp)
        self._since = seen
        return sorted(out)


class BrokerLossGuard:
    """Checks the assigned partitions every ``interval_s`` and re-reads the ones the broker lost."""

    def __init__(
        self,
        app: Any,
        *,
        in_flight: Callable[[], int],
        interval_s: float = 1.0,
        settle_s: float = 0.5,
        confirm_checks: int = 3,
        stall_s: float = 30.0,
        max_heals: int = 3,
    ) -> None:
        self.app = app
        self.stalls = StallTracker(stall_s)
        self.max_heals = max_heals
        self._heals: dict[Any, tuple[int, int | None]] = {}  # heals in a row, read offset at the last one
        self.confirm_checks = confirm_checks
        self._suspects: dict[Any, int] = {}
        self.in_flight = in_flight
        self.interval_s = interval_s
        self.settle_s = settle_s  # longer than a micro-batch's collection window

    def views(self) -> dict[Any, PartitionView]:
        consumer = self.app.consumer
        out = {}
        for tp in consumer.assignment():
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # noqa: BLE001 - not fetched yet, or the partition is being reassigned
                highwater = None
            # Faust's own book-keeping: what the streams read and what it committed.
            out[tp] = PartitionView(consumer._read_offset.get(tp), consumer._committed_offset.get(tp), highwater)
        return out

    async def run(self) -> None:
        """The guard's loop (an app task); never raises."""
        while not self.app.should_stop:
            await asyncio.sleep(self.interval_s)
            try:
                if self.app.rebalancing or self.app.consumer is None:
                    self._suspects = {}  # a new assignment: judge it afresh
                    self.stalls.reset()
                    continue
                views = self.views()
                metrics.observe_lag(views)
                self._suspects, lost = confirm_lost(
                    self._suspects, lost_partitions(views), views, checks=self.confirm_checks
                )
                if lost:
                    await self.reset(lost)
                    self._suspects = {}
                    self.stalls.reset()
                    continue
                loop = asyncio.get_running_loop()
                stalled = self.stalls.stalled(views, now=loop.time(), busy=self.in_flight() > 0)
                # A healed partition that reads again is forgiven; one that does not counts towards max_heals.
                self._heals = {
                    tp: (n, read) for tp, (n, read) in self._heals.items() if tp in views and views[tp].read == read
                }
                if stalled:
                    await self.heal(stalled, views)
                    self.stalls.reset()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a check that fails is retried at the next tick
                log.warning("broker-loss check failed", exc_info=True)

    async def reset(self, partitions: list[Any]) -> None:
        """Re-read ``partitions`` from their start, after the batches already taken are written and acked."""
        app, consumer = self.app, self.app.consumer
        views = self.views()
        log.warning(
            "the broker lost data: partitions reset to their start",
            extra={
                "partitions": [f"{tp.topic}:{tp.partition}" for tp in partitions],
                "log_end": {f"{tp.topic}:{tp.partition}": views[tp].highwater for tp in partitions if tp in views},
                "read": {f"{tp.topic}:{tp.partition}": views[tp].read for tp in partitions if tp in views},
            },
        )
        consumer.stop_flow()
        app.flow_control.suspend()
        try:
            # Batches taken before the loss finish (their records are written, idempotently) and are acked.
            quiet_since = None
            loop = asyncio.get_running_loop()
            while quiet_since is None or loop.time() - quiet_since < self.settle_s:
                if self.in_flight():
                    quiet_since = None
                elif quiet_since is None:
                    quiet_since = loop.time()
                await asyncio.sleep(0.05)
            await self._back_to_committed()
            for tp in partitions:
                for book in (consumer._acked, consumer._acked_index, consumer._gap, consumer._committed_offset):
                    book.pop(tp, None)
                await consumer.seek(tp, 0)
                metrics.PARTITION_RESETS.labels(tp.topic, str(tp.partition)).inc()
        finally:
            app.flow_control.resume()
            consumer.resume_flow()

    async def heal(self, partitions: list[Any], views: Mapping[Any, PartitionView]) -> None:
        """Resume a stalled partition as a rebalance's end would: partitions, flow, committed offsets."""
        app, consumer = self.app, self.app.consumer
        named = [f"{tp.topic}:{tp.partition}" for tp in partitions]
        for tp in partitions:
            self._heals[tp] = (self._heals.get(tp, (0, None))[0] + 1, views[tp].read)
            metrics.PARTITION_STALLS.labels(tp.topic, str(tp.partition)).inc()
        if any(n > self.max_heals for n, _ in self._heals.values()):
            log.critical(
                "partition still stalled after resuming it; exiting so that a restart reads it again",
                extra={"partitions": named, "heals": self.max_heals},
            )
            logging.shutdown()
            sys.stderr.flush()
            os._exit(70)  # nothing unwritten was acked: the restarted worker reads from the commit
        log.warning(
            "partition stalled with records waiting; resuming it from its committed offset",
            extra={
                "partitions": named,
                "read": {f"{tp.topic}:{tp.partition}": views[tp].read for tp in partitions},
                "log_end": {f"{tp.topic}:{tp.partition}": views[tp].highwater for tp in partitions},
                "stalled_s": self.stalls.stall_s,
            },
        )
        await self._back_to_committed()
        consumer.resume_partitions(consumer.assignment())
        app.flow_control.resume()
        consumer.resume_flow()

    async def _back_to_committed(self) -> None:
        """Drop the queued records and read every partition again from its committed offset."""
        consumer = self.app.consumer
        # What was acked is committed first, so going back to the committed offsets re-reads little.
        await consumer.commit()
        self.app.flow_control.clear()  # records queued from the old positions are not read...
        await consumer.perform_seek()  # ...so none is skipped: each partition resumes at its commit
