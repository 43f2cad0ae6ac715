"""Part 6, resource limits: the worker under an address-space limit (``ulimit -v``, RLIMIT_AS) with
inputs at the size limits (texts of ``max_text_chars``, payloads near ``max_payload_bytes``).

Under a limit it fits in, it scores everything. Under one it does not fit in, it must fail loudly
(non-zero exit, a log line saying why) without acking, and leave no partial write: every stored
document has its score and rollup, and a worker started afterwards without the limit stores the
rest exactly once.
"""

from __future__ import annotations

import random
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

from finsent.bench.faults.harness import Stack, WorkerProcess, news_payloads, wait_until
from finsent.bench.faults.report import Result

__all__ = ["FULL", "LimitSize", "REDUCED", "run"]

MAX_TEXT_CHARS = 20_000  # the defaults (StreamSettings): inputs are made right at them
MAX_PAYLOAD_BYTES = 256_000


@dataclass(frozen=True)
class LimitSize:
    messages: int
    roomy_gb: float  # an address-space limit the worker fits in
    tight_share: float  # the tight limit, as a share of the peak address space measured under the roomy one


FULL = LimitSize(messages=2_000, roomy_gb=12.0, tight_share=0.8)
REDUCED = LimitSize(messages=120, roomy_gb=12.0, tight_share=0.8)


def _limit(gb: float) -> Callable[[], None]:
    size = int(gb * 2**30)
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (size, size))


def at_the_limits(n: int, *, tag: str) -> list[tuple[bytes, bytes]]:
    """Messages at both limits: text just under ``MAX_TEXT_CHARS``; every other one also close to
    ``MAX_PAYLOAD_BYTES`` (emoji, which JSON escapes to 12 bytes each: 19,800 of them are 238 kB)."""
    import json

    out = []
    for i, (key, value, _) in enumerate(news_payloads(n, tag=tag)):
        data = json.loads(value)
        room = MAX_TEXT_CHARS - len(data["title"]) - 201
        data["body"] = ("\U0001f4c9" * room) if i % 2 else ("market risk " * (room // 12 + 1))[:room]
        out.append((key, json.dumps(data).encode()))
    return out


def _peak_vm_gb(worker: WorkerProcess) -> float:
    assert worker.proc is not None
    try:
        with open(f"/proc/{worker.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def run(stack: Stack, size: LimitSize, rng: random.Random) -> Result:
    result = Result("resource limits", messages=2 * size.messages)
    first = at_the_limits(size.messages, tag="roomy")
    assert all(len(v) < MAX_PAYLOAD_BYTES for _, v in first)  # near it, not over: these must be scored
    stack.produce(first)
    roomy = stack.worker("worker-roomy", preexec=_limit(size.roomy_gb)).start()
    wait_until(lambda: stack.score_count() >= size.messages or not roomy.alive, timeout_s=900, every_s=0.5, what="roomy scores")
    peak = _peak_vm_gb(roomy)
    roomy_ok = stack.counts().distinct == size.messages
    roomy.terminate()

    # A limit below what the worker needs: it must fail loudly and leave the input unacked.
    tight_gb = max(0.3, peak * size.tight_share)
    committed_before = stack.committed()
    stack.produce(at_the_limits(size.messages, tag="tight"))
    tight = stack.worker("worker-tight", preexec=_limit(tight_gb)).start()
    started = time.monotonic()
    while tight.alive and stack.score_count() < 2 * size.messages and time.monotonic() - started < 300:
        time.sleep(0.5)
    time.sleep(1)  # a worker that scored everything must also survive its writes
    rc = tight.returncode
    tight.kill()
    after_tight = stack.counts()
    committed_after = stack.committed()
    log_text = tight.tail(10**7)
    # Python's MemoryError ends the worker through its critical "exiting without acking" line; an
    # allocation failing inside a native library (the Rust tokenizer: "memory allocation of N bytes
    # failed") aborts the process (SIGABRT) with that message on stderr. Both say why; neither acks.
    signs = ('"level": "critical"', "MemoryError", "memory allocation of", "std::bad_alloc")
    loud = any(sign in log_text for sign in signs)
    last_message = next((line for line in reversed(log_text.splitlines()) if any(sign in line for sign in signs)), "")

    # Without the limit, the rest is stored exactly once: nothing was acked unwritten.
    rescue = stack.worker("worker-rescue").start()
    wait_until(lambda: stack.score_count() >= 2 * size.messages, timeout_s=900, every_s=0.5, what="rescue scores")
    time.sleep(2)
    rescue.terminate()
    counts = stack.counts()

    result.faults = f"RLIMIT_AS {size.roomy_gb:.0f} GB, then {tight_gb:.1f} GB"
    result.lost = 2 * size.messages - counts.distinct
    result.duplicated = counts.scores - counts.distinct
    result.recovery = (
        "tight: scored everything within the limit" if rc is None and after_tight.distinct == 2 * size.messages
        else f"tight: exit status {rc}; the next worker stored the rest"
    )
    result.check(f"scores everything under {size.roomy_gb:.0f} GB", roomy_ok)
    # The rule: under the limit the worker either scores within it or fails loudly. Which
    # one depends on how far the measured peak (model conversion at a first start included) lies
    # above what scoring alone needs, so both count, and the row says which happened.
    scored_within = rc is None and after_tight.distinct == 2 * size.messages
    result.check(
        "under the tight limit: scores within it, or fails loudly (non-zero exit, a reason in the log)",
        scored_within or (rc not in (None, 0) and loud),
    )
    result.check("no partial write under the tight limit", after_tight.documents == after_tight.scores == after_tight.rolled)
    result.check("nothing acked under the tight limit", committed_after == committed_before or after_tight.distinct > size.messages)
    result.check("stored exactly once afterwards", counts.documents == counts.scores == counts.distinct == 2 * size.messages)
    result.details.update(
        {
            "peak address space under the roomy limit (GB)": round(peak, 2),
            "tight limit (GB)": round(tight_gb, 2),
            "stored under the tight limit": after_tight.distinct - size.messages,
            "tight worker's reason": last_message[:300],
        }
    )
    return result
