"""Scale-out proof (issue #14): two ``finsent worker`` processes in one consumer group on 4
partitions; one is SIGKILLed mid-run and the survivor takes over its partitions. Every message is
stored exactly once (documents = scores = distinct = rollup total = N), and with the killed worker
gone every one of the 4 partitions ends acknowledged to its end, which only the survivor can do.
(Ownership is shown by committed offsets: reading member assignments from Tansu's DescribeGroups via
kafka-python failed on its authorized-operations field and gave no usable assignments.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from finsent.bench.faults.harness import Stack, news_payloads, wait_until

pytestmark = pytest.mark.slow

N = 1_500
PARTITIONS = 4
PG_ADMIN = os.environ.get("FINSENT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _committed_by_partition(stack: Stack) -> dict[int, int]:
    """The group's committed offset on each raw-topic partition."""
    from kafka import KafkaAdminClient

    group = f"faults-{stack.run}"
    admin = KafkaAdminClient(bootstrap_servers=stack.broker.bootstrap, client_id="scale-out-admin")
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {tp.partition: max(0, meta.offset) for tp, meta in offsets.items() if tp.topic == stack.raw_topic}


def test_two_workers_one_killed_survivor_takes_all_partitions(tmp_path: Path, tiny_model_path: Path) -> None:
    with Stack(work_dir=tmp_path, model_path=str(tiny_model_path), pg_admin_url=PG_ADMIN, partitions=PARTITIONS) as stack:
        a = stack.worker("a").start()
        b = stack.worker("b").start()
        wait_until(lambda: a.scored() is not None and b.scored() is not None, timeout_s=120, what="both workers up")
        payloads = news_payloads(N, tag="scale")
        stack.produce((key, value) for key, value, _ in payloads)
        # SIGKILL one worker mid-run: after some, not all, of the messages are stored.
        # Both members score their share before the kill (the group split the partitions between them).
        wait_until(lambda: (a.scored() or 0) > 0 and (b.scored() or 0) > 0, timeout_s=180, what="both workers scoring")
        wait_until(lambda: stack.score_count() >= N // 4, timeout_s=180, what="a quarter stored")
        assert stack.score_count() < N, "the run finished before the kill; raise N"
        b.kill()

        wait_until(lambda: stack.score_count() >= N, timeout_s=240, what="every message stored by the survivor")
        wait_until(lambda: stack.committed() >= N, timeout_s=120, what="every partition acknowledged to its end")
        # The survivor, now the only member, acknowledged every partition to its end: it owns all of them.
        assert a.alive and not b.alive
        by_partition = _committed_by_partition(stack)
        assert sorted(by_partition) == list(range(PARTITIONS)), by_partition
        assert sum(by_partition.values()) == N and all(by_partition.values()), by_partition

        counts = stack.counts(ids_like="scale-")
        assert (counts.documents, counts.scores, counts.distinct) == (N, N, N), counts
        assert stack.counts().rolled == N
        assert stack.stored_ids() == {doc_id for _, _, doc_id in payloads}
        assert stack.committed() == N
