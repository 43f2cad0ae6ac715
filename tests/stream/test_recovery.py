"""The broker-loss rule on its own: which partitions' log end fell below what was read or committed."""

from __future__ import annotations

from finsent.stream.recovery import PartitionView, lost_partitions


def test_a_partition_is_lost_when_its_log_end_is_below_what_was_read_or_committed() -> None:
    views = {
        ("t", 0): PartitionView(read=99, committed=100, highwater=150),  # normal: behind the log end
        ("t", 1): PartitionView(read=99, committed=100, highwater=100),  # caught up exactly
        ("t", 2): PartitionView(read=99, committed=100, highwater=40),  # the broker lost the log
        ("t", 3): PartitionView(read=None, committed=1000, highwater=0),  # offsets kept, log gone
        ("t", 4): PartitionView(read=None, committed=None, highwater=0),  # fresh partition
        ("t", 5): PartitionView(read=500, committed=None, highwater=None),  # nothing fetched yet
    }
    assert lost_partitions(views) == [("t", 2), ("t", 3)]


def test_a_partition_is_reset_only_when_it_looks_lost_check_after_check() -> None:
    from finsent.stream.recovery import confirm_lost

    views = {("t", 0): PartitionView(read=99, committed=100, highwater=10), ("t", 1): PartitionView(5, 6, 50)}
    suspects: dict = {}
    confirmed = []
    for _ in range(2):
        suspects, confirmed = confirm_lost(suspects, lost_partitions(views), views, checks=3)
        assert confirmed == []  # a moment after a rebalance the picture can be stale
    suspects, confirmed = confirm_lost(suspects, lost_partitions(views), views, checks=3)
    assert confirmed == [("t", 0)]
    # A partition that recovers between checks starts counting again.
    healed = {("t", 0): PartitionView(read=99, committed=100, highwater=120)}
    suspects, confirmed = confirm_lost({("t", 0): 2}, lost_partitions(healed), healed, checks=3)
    assert suspects == {} and confirmed == []


def test_a_partition_stalls_when_records_wait_and_nothing_is_read_while_the_worker_is_idle() -> None:
    from finsent.stream.recovery import StallTracker

    tracker = StallTracker(stall_s=30)
    stuck = PartitionView(read=15_000, committed=15_001, highwater=24_810)
    caught_up = PartitionView(read=24_999, committed=25_000, highwater=25_000)
    views = {("t", 2): stuck, ("t", 0): caught_up}
    assert tracker.stalled(views, now=0.0, busy=False) == []
    assert tracker.stalled(views, now=29.0, busy=False) == []
    assert tracker.stalled(views, now=30.5, busy=False) == [("t", 2)]  # caught up is never stalled


def test_reading_or_a_batch_in_flight_restarts_the_stall_clock() -> None:
    from finsent.stream.recovery import StallTracker

    tracker = StallTracker(stall_s=30)
    view = PartitionView(read=100, committed=90, highwater=500)
    tracker.stalled({("t", 0): view}, now=0.0, busy=False)
    # A batch held through a database outage (or backfill waiting for live news) is not a stall.
    assert tracker.stalled({("t", 0): view}, now=20.0, busy=True) == []
    assert tracker.stalled({("t", 0): view}, now=45.0, busy=False) == []
    assert tracker.stalled({("t", 0): view}, now=50.5, busy=False) == [("t", 0)]
    moved = PartitionView(read=164, committed=90, highwater=500)
    assert tracker.stalled({("t", 0): moved}, now=51.0, busy=False) == []
    assert tracker.stalled({("t", 0): moved}, now=80.0, busy=False) == []
    assert tracker.stalled({("t", 0): moved}, now=81.5, busy=False) == [("t", 0)]
    # Nothing fetched since the assignment: no log end known, nothing to judge.
    fresh = StallTracker(stall_s=1)
    unseen = {("t", 1): PartitionView(read=None, committed=None, highwater=None)}
    assert fresh.stalled(unseen, now=0.0, busy=False) == [] and fresh.stalled(unseen, now=9.0, busy=False) == []
