"""Part 1, crash loop: the worker SIGKILLed at random moments, once during start-up and once during a
two-worker rebalance; nothing lost, no duplicate rows, rollups equal to rows, restart to first score.

Kills are spread over the stream by progress (each after a random share of the remaining work), so
every one lands while batches are in flight. Duplicates on the scored topic are expected (work since
the last commit is replayed, and Tansu has no idempotent or transactional producer); they are
counted by the key consumers dedup on: (document id, model version).
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass

from finsent.bench.faults.harness import Stack, news_payloads, non_json_lines, scored_topic_duplicates, wait_until
from finsent.bench.faults.report import Result

__all__ = ["CrashSize", "FULL", "REDUCED", "run"]

RESTART_BOUND_S = 10.0


@dataclass(frozen=True)
class CrashSize:
    messages: int
    kills: int  # every SIGKILL: one during start-up, one during a rebalance, the rest at random


FULL = CrashSize(messages=100_000, kills=10)
REDUCED = CrashSize(messages=4_000, kills=3)


def run(stack: Stack, size: CrashSize, rng: random.Random) -> Result:
    result = Result("crash loop", messages=size.messages)
    payloads = news_payloads(size.messages, tag="crash")
    stack.produce((key, value) for key, value, _ in payloads)
    n = size.messages
    restarts: list[float] = []
    kills = 0

    # Deployed as docs/operations.md says: `finsent prepare` caches the engine's compiled graph before
    # the first worker starts, so every restart reads it back instead of converting again.
    prepare_s = stack.prepare_model()

    # One kill during start-up: the model loading, the group join, before any batch is written.
    # Dynamic membership (no FINSENT_KAFKA_GROUP_INSTANCE_ID): on Tansu a SIGKILLed static member
    # that does not come back kept the group from rebalancing (no score for 180 s), docs/reliability.md.
    main: dict[str, str] = {}
    first = stack.worker("worker-01", **main).start()
    time.sleep(rng.uniform(1.0, 3.0))
    result.check("start-up kill came before the first score", (first.scored() or 0) == 0)
    first.kill()
    kills += 1

    # Kills at random moments while it works; the worker is restarted after each, as a supervisor would.
    random_kills = max(0, size.kills - 2)
    worker = first
    for i in range(random_kills):
        worker = stack.worker(f"worker-{i + 2:02d}", **main).start()
        restarts.append(worker.wait_first_score())
        _kill_after_progress(stack, worker, n, kills_left=size.kills - kills, rng=rng)
        kills += 1

    # One kill during a two-worker rebalance: a second member joins, and the first dies mid-rebalance.
    a = stack.worker("worker-rebalance-a", **main).start()
    restarts.append(a.wait_first_score())
    _wait_progress(stack, n, share=rng.uniform(0.05, 0.15))
    b = stack.worker("worker-rebalance-b").start()
    # Once b's web server answers it is joining; its JoinGroup is held by the broker (the group
    # is rebalancing) for a few seconds: the kill lands inside that window.
    wait_until(lambda: b.scored() is not None, timeout_s=120, every_s=0.1, what="second worker up")
    time.sleep(rng.uniform(0.2, 2.0))
    a.kill()
    kills += 1
    before = stack.score_count()
    rebalance_recovery = wait_until(
        lambda: stack.score_count() > before or stack.score_count() >= n, timeout_s=180, what="scores after the rebalance kill"
    )

    # b alone finishes the stream.
    wait_until(lambda: stack.score_count() >= n, timeout_s=max(600, n / 20), every_s=1.0, what=f"{n} scores")
    time.sleep(3)  # a duplicate, if any, would land now
    rc, stop_s = b.terminate()
    counts = stack.counts()
    records, distinct_keys = scored_topic_duplicates(stack.read_topic(stack.scored_topic))
    bad_lines = non_json_lines(stack.worker_logs())

    result.faults = f"{kills} SIGKILL (1 at start-up, 1 in a rebalance)"
    result.lost = n - counts.distinct
    result.duplicated = counts.scores - counts.distinct
    result.topic_duplicates = records - distinct_keys
    result.recovery = f"restart to first score: median {statistics.median(restarts):.1f} s, max {max(restarts):.1f} s"
    result.check("every message stored once", counts.documents == counts.scores == counts.distinct == n)
    result.check("rollups equal rows", counts.rolled == n)
    result.check(f"restart to first score within {RESTART_BOUND_S:.0f} s", max(restarts) <= RESTART_BOUND_S)
    result.check("scored topic holds every document", distinct_keys == n)
    result.check("final SIGTERM exits cleanly", rc == 0)
    result.check("worker logs are JSON lines only", not bad_lines)
    result.details.update(
        {
            "finsent prepare before the first start (s)": round(prepare_s, 1),
            "restarts to first score (s)": [round(s, 1) for s in restarts],
            "rebalance kill to next score (s)": round(rebalance_recovery, 1),
            "scored-topic records": records,
            "scored-topic duplicates (dedup key: id + model_version)": records - distinct_keys,
            "SIGTERM to exit (s)": round(stop_s, 1),
            "non-JSON log lines": len(bad_lines),
        }
    )
    if bad_lines:
        result.details["first non-JSON line"] = bad_lines[0]
    return result


def _wait_progress(stack: Stack, n: int, *, share: float) -> None:
    start = stack.score_count()
    target = min(n, start + max(1, int(share * n)))
    wait_until(lambda: stack.score_count() >= target, timeout_s=600, every_s=0.2, what="progress")


def _kill_after_progress(stack: Stack, worker, n: int, *, kills_left: int, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL once a random share of the remaining work is done, so the kill lands mid-stream."""
    remaining = max(1, n - stack.score_count())
    share = rng.uniform(0.2, 0.8) / max(1, kills_left)
    start = stack.score_count()
    target = start + max(1, int(share * remaining))
    wait_until(lambda: stack.score_count() >= target or not worker.alive, timeout_s=600, every_s=0.1, what="progress")
    worker.kill()
