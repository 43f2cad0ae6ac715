"""Part 4, hostile input: malformed messages of every kind interleaved with valid ones, one worker.

No crash; every valid message scored; every hostile one either dead-lettered with its reason or
stored in a sane normalised form (NUL and control characters become spaces). The report counts
dead letters per reason.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from finsent.bench.faults.harness import T0, Stack, news_payloads, non_json_lines, wait_until
from finsent.bench.faults.report import Result
from finsent.messages import DeadLetter

__all__ = ["FULL", "HostileSize", "KINDS", "REDUCED", "run"]


@dataclass(frozen=True)
class HostileSize:
    hostile: int
    valid: int


FULL = HostileSize(hostile=10_000, valid=1_000)
REDUCED = HostileSize(hostile=340, valid=150)

_GOOD = {"source": "hostile", "title": "A headline", "published_at": T0.isoformat()}


def _json(**fields: object) -> bytes:
    return json.dumps({**_GOOD, **fields}).encode()


# kind -> (make payload from a sequence number, what should happen: a dead-letter reason or "stored").
KINDS: dict[str, tuple[Callable[[int], bytes], str]] = {
    "invalid UTF-8": (lambda i: b'{"source": "x", "title": "caf\xe9 \xff\xfe ' + str(i).encode() + b'"}', "bad_json"),
    "truncated JSON": (lambda i: _json(title=f"cut {i}")[: 20 + i % 20], "bad_json"),
    "not an object": (lambda i: json.dumps([i, "title"]).encode(), "not_an_object"),
    "wrong types": (lambda i: _json(title=f"t{i}", tickers=i), "invalid_fields"),
    "missing fields": (lambda i: json.dumps({"title": f"no source {i}"}).encode(), "invalid_fields"),
    "empty text": (lambda i: _json(title="", body="", url=f"https://e.example/{i}"), "invalid_fields"),
    "1 MB text": (lambda i: _json(title=f"big {i}", body="word " * 200_000), "oversize"),
    "over the payload limit": (lambda i: b'{"source": "x", "title": "' + b"y" * 300_000 + b'"}', "oversize"),
    "text over the character limit": (lambda i: _json(title=f"long {i}", body="z" * 30_000), "oversize_text"),
    "NUL and control characters": (lambda i: _json(title=f"Profit\u0000 rose\u0007 {i}\u001b[31m", url=f"https://e.example/nul/{i}"), "stored"),
    "deeply nested arrays": (lambda i: b'{"source": "x", "title": "deep", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "bad_json"),
    "huge integer": (lambda i: b'{"source": "x", "title": "n", "n": ' + b"9" * 5000 + b"}", "bad_json"),
    "year 9999": (lambda i: _json(title=f"future {i}", published_at="9999-12-31T23:59:00"), "invalid_fields"),
    "negative time": (lambda i: _json(title=f"neg {i}", published_at=-1 - i), "invalid_fields"),
    "time not ISO": (lambda i: _json(title=f"when {i}", published_at="last Tuesday"), "invalid_fields"),
    "duplicate id, other text": (lambda i: json.dumps({**_GOOD, "id": f"valid-{i % 50}", "title": f"rewritten {i}"}).encode(), "id_conflict"),
    "empty value": (lambda i: b"", "bad_json"),
}


def hostile_stream(size: HostileSize, rng: random.Random) -> tuple[list[tuple[bytes, bytes]], Counter[str], int]:
    """(records in order, expected dead letters per reason, hostile messages expected to be stored)."""
    kinds = list(KINDS)
    valid = news_payloads(size.valid, tag="valid")
    # The id-conflict rewrites must come after their original: same key (same partition), later.
    records: list[tuple[bytes, bytes]] = [(k, v) for k, v, _ in valid]
    expected: Counter[str] = Counter()
    stored = 0
    for i in range(size.hostile):
        kind = kinds[i % len(kinds)]
        make, outcome = KINDS[kind]
        value = make(i)
        if outcome == "id_conflict":
            key = valid[i % 50][0]
            records.append((key, value))
        else:
            records.insert(rng.randrange(len(records) + 1), (f"h{i % 8}".encode(), value))
        if outcome == "stored":
            stored += 1
        else:
            expected[outcome] += 1
    # Conflicts against documents not yet written when the rewrite arrives still keep the first version.
    return records, expected, stored


def run(stack: Stack, size: HostileSize, rng: random.Random) -> Result:
    result = Result("hostile input", messages=size.hostile + size.valid)
    records, expected, stored_hostile = hostile_stream(size, rng)
    # Conflict rewrites must follow their originals: produce the valid ones first, then the rest.
    stack.produce(records, max_request_size=4_000_000)
    worker = stack.worker("worker-1").start()
    target = size.valid + stored_hostile
    wait_until(lambda: stack.score_count() >= target or not worker.alive, timeout_s=900, every_s=0.5, what=f"{target} scores")
    letters = [DeadLetter.model_validate_json(r.value) for r in stack.read_topic(stack.dead_topic, idle_s=4)]
    alive = worker.alive
    worker.terminate()
    by_origin = {(d.partition, d.offset): d for d in letters}
    reasons = Counter(d.reason for d in by_origin.values())
    valid_stored = stack.counts(ids_like="valid-")
    counts = stack.counts()
    bad_lines = non_json_lines(stack.worker_logs())

    result.faults = f"{size.hostile:,} malformed of {len(KINDS)} kinds"
    result.dead_lettered = len(by_origin)
    result.lost = size.valid - valid_stored.distinct
    result.duplicated = counts.scores - counts.distinct
    result.recovery = "no restart needed" if alive else "worker died"
    result.check("worker never crashed", alive)
    result.check("every valid message scored", valid_stored.distinct == size.valid)
    result.check("every hostile message dead-lettered or stored normalised", len(by_origin) + (counts.distinct - size.valid) == size.hostile)
    result.check("dead-letter reasons as expected", reasons == expected)
    result.check("every dead letter has a reason and the original (or its size and hash)", all(d.reason and d.error and d.original_sha256 for d in by_origin.values()))
    result.check("logs are JSON lines only", not bad_lines)
    result.details.update(
        {
            "dead letters per reason": dict(sorted(reasons.items())),
            "expected per reason": dict(sorted(expected.items())),
            "stored in normalised form (NUL/control characters -> space)": counts.distinct - size.valid,
            "truncated letters (over ~900 kB)": sum(d.truncated for d in by_origin.values()),
        }
    )
    return result
