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
