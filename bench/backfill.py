"""Measure backfill throughput against the inference engine's own rate on the same texts, in one process."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

__all__ = ["bench_backfill"]


def bench_backfill(
    n: int,
    *,
    model_path: str | Path,
    database_url: str,
    workdir: Path,
    precision: str = "auto",
    threads: int | None = None,
    batch_size: int = 2048,
    inference_batch_size: int = 64,
) -> dict[str, Any]:
    """Backfill ``n`` simulated news texts into a migrated, empty database; returns rates in texts/s."""
    from finsent.db import make_engine, make_sessionmaker
    from finsent.ingest.backfill import BackfillOptions, backfill_files
    from finsent.ingest.simulator import SCENARIOS, simulate
    from finsent.model.engine import load_engine

    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"bench-{n}.jsonl"
    start = datetime(2025, 1, 6, 14, 30, tzinfo=UTC)
    texts: list[str] = []
    with source.open("w") as fh:
        for message in islice(simulate(SCENARIOS["calm"], start=start, seed=11), n):
            fh.write(message.model_dump_json() + "\n")
            texts.append(message.text)
    engine = load_engine(
        model_path,
        precision=precision,
        threads=threads,
        batch_size=inference_batch_size,
        runtime="auto",
        onnx_cache=workdir / "onnx",
    )

    t0 = time.perf_counter()
    for i in range(0, n, batch_size):  # the engine alone, in the chunks backfill hands it
        engine.predict(texts[i : i + batch_size])
    predict_s = time.perf_counter() - t0
    del texts

    db = make_engine(database_url)
    try:
        report = backfill_files(
            source,
            classifier=engine,
            factory=make_sessionmaker(db),
            database_url=database_url,
            data_dir=workdir,
            options=BackfillOptions(
                batch_size=batch_size,
                checkpoint=workdir / "bench-checkpoint.json",
                restart=True,
                progress=False,
            ),
        )
    finally:
        db.dispose()
    return {
        "texts": n,
        "model_version": engine.version,
        "precision": engine.precision,
        "runtime": engine.runtime,
        "engine_rate": round(n / predict_s, 1),
        "backfill_rate": round(report.rate, 1),
        "backfill_inference_rate": round(report.inference_rate, 1),
        "backfill_s": round(report.elapsed_s, 1),
        "inference_s": round(report.inference_s, 1),
        "write_s": round(report.write_s, 1),
        "rollup_s": round(report.rollup_s, 1),
        "scores_written": report.scores_written,
        "rollup_rows": report.rollup_rows,
    }


if __name__ == "__main__":  # python -m finsent.bench.backfill N MODEL DATABASE_URL WORKDIR [precision] [threads]
    import sys

    args = sys.argv[1:]
    result = bench_backfill(
        int(args[0]),
        model_path=args[1],
        database_url=args[2],
        workdir=Path(args[3]),
        precision=args[4] if len(args) > 4 else "auto",
        threads=int(args[5]) if len(args) > 5 else None,
    )
    print(json.dumps(result))
