"""The store's write cost as the tables grow (issue #14): ms per message in each fifth of one run.

The worker's write is what gated its next batch (docs/scaling.md, "The write path"), and a cost
that grows with the stored documents only shows over a long run, so the run is cut in fifths.
Simulated scored messages (the labelled story pairs' texts, 30 % reworded copies, as in
``finsent desk bench``), stories on, batches of the worker's size, into a temporary PostgreSQL
database; one line per fifth, wall time and this process's CPU (the worker's share of the write).

    python -m finsent.bench.write_path [MESSAGES] [BATCH]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from finsent.bench.common import temporary_database
from finsent.bench.desk import scored_messages, write_cost
from finsent.bench.story_pairs import read_pairs
from finsent.stories import StoryOptions

__all__ = ["main", "run_write_path"]

PAIRS = Path(__file__).resolve().parents[1] / "tests" / "data" / "story_pairs.csv"
PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def run_write_path(
    *, messages: int = 20_000, batch: int = 64, pairs_path: Path = PAIRS, pg_admin_url: str = PG_ADMIN
) -> list[dict[str, Any]]:
    """Per fifth of the run: messages written, wall and CPU ms per message."""
    texts = sorted({p.a for p in read_pairs(pairs_path)})
    docs = scored_messages(texts, messages, copies=0.3, seed=2, tag="w")
    batches = [docs[i : i + batch] for i in range(0, len(docs), batch)]
    fifth = max(1, len(batches) // 5)
    out = []
    with temporary_database(pg_admin_url, prefix="finsent_write_bench") as url:
        for part in range(5):
            chunk = batches[part * fifth : (part + 1) * fifth if part < 4 else None]
            n = sum(len(b) for b in chunk)
            cpu = time.process_time()
            wall = write_cost(url, chunk, StoryOptions())
            cpu = time.process_time() - cpu
            out.append({"fifth": part + 1, "messages": n, "wall_ms": 1000 * wall / n, "cpu_ms": 1000 * cpu / n})
    return out


def main(argv: list[str]) -> None:
    messages = int(argv[0]) if argv else 20_000
    batch = int(argv[1]) if len(argv) > 1 else 64
    print(f"write_scored, {messages} messages in batches of {batch}, stories on, PostgreSQL")
    print("fifth  messages  wall ms/msg  cpu ms/msg")
    for row in run_write_path(messages=messages, batch=batch):
        print(f"{row['fifth']:>5}  {row['messages']:>8}  {row['wall_ms']:>11.2f}  {row['cpu_ms']:>10.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
