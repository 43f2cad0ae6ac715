"""The benchmark's pieces work on a tiny run (figures come from `finsent bench`, not from tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from finsent.bench.common import percentile, temporary_database
from finsent.bench.end_to_end import bench_texts, run_end_to_end, summarise_rss
from finsent.settings import Settings
from finsent.stream.broker import EmbeddedBroker
from finsent.tables import Score
from tests.utils.database import ADMIN_URL


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50, 95, 99)
    assert percentile([7.0], 99) == 7.0


def test_rss_growth_compares_first_and_last_fifth() -> None:
    assert summarise_rss([100.0] * 10 + [150.0] * 10)["growth_mb"] == 50.0


def test_bench_texts_are_distinct_messages() -> None:
    messages = bench_texts(50)
    assert len({m.id for m in messages}) == 50


@pytest.mark.slow
@pytest.mark.parametrize(
    "env", [{}, {"FINSENT_MODEL_INFERENCE_PROCESS": "true"}], ids=["model in the worker", "inference process"]
)
def test_end_to_end_run_counts_every_message(
    broker: EmbeddedBroker, tiny_model_path: Path, env: dict[str, str]
) -> None:
    with temporary_database(ADMIN_URL) as db_url:
        result = run_end_to_end(
            Settings(), bootstrap=broker.bootstrap, db_url=db_url, messages=bench_texts(200),
            rate=None, model_path=str(tiny_model_path), timeout_s=300, extra_env=env,
        )  # fmt: skip
    assert result.messages == 200
    assert result.throughput > 0 and 0 < result.latency_ms_p50 <= result.latency_ms_p95 <= result.latency_ms_p99


def test_two_workers_in_one_group_share_the_run(broker: EmbeddedBroker, tiny_model_path: Path) -> None:
    with temporary_database(ADMIN_URL) as db_url:
        result = run_end_to_end(
            Settings(), bootstrap=broker.bootstrap, db_url=db_url, messages=bench_texts(300),
            rate=None, model_path=str(tiny_model_path), timeout_s=300, workers=2,
            extra_env={"FINSENT_MODEL_THREADS": "1"},
        )  # fmt: skip
        engine = create_engine(db_url)
        with engine.connect() as conn:
            scores = conn.execute(select(func.count()).select_from(Score)).scalar()
        engine.dispose()
    assert result.messages == 300 and scores == 301  # the run's messages plus the warm-up one


def test_worker_memory_includes_its_children() -> None:
    """With FINSENT_MODEL_INFERENCE_PROCESS the model's memory is in a child: the sampler adds it."""
    import os
    import subprocess
    import sys
    import time

    import psutil

    from finsent.bench.end_to_end import _RssSampler

    own = psutil.Process(os.getpid()).memory_info().rss / 2**20
    child = subprocess.Popen([sys.executable, "-c", "b = bytearray(300 * 2**20); import time; time.sleep(30)"])
    try:
        time.sleep(0.1)
        sampler = _RssSampler(os.getpid(), every_s=0.1)
        sampler.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (sampler.samples and sampler.samples[-1] > own + 250):
            time.sleep(0.1)
        sampler.stop.set()
        assert sampler.samples and sampler.samples[-1] > own + 250, (own, sampler.samples[-3:])
    finally:
        child.kill()
        child.wait()
