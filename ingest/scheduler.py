"""Run every source on its own interval with APScheduler until told to stop.

Each source is one job: no overlapping runs of it (max_instances=1, missed runs coalesced),
a random jitter so sources do not fire in lock-step, and a first poll right away. Stopping
waits for the polls in flight (their waits and retries end early) and then returns.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from finsent.ingest.runner import Ingestor

__all__ = ["build_scheduler", "run_until_stopped", "stop_on_signals"]

log = logging.getLogger(__name__)


def build_scheduler(ingestor: Ingestor) -> BackgroundScheduler:
    """A scheduler with one interval job per enabled source (not started)."""
    workers = max(1, min(ingestor.config.max_workers, len(ingestor.pollers)))
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )
    now = datetime.now(UTC)
    for name, poller in ingestor.pollers.items():
        config = poller.config
        scheduler.add_job(
            ingestor.poll,
            IntervalTrigger(seconds=config.interval_s, jitter=config.jitter or None, timezone=UTC),
            args=[name],
            id=name,
            name=f"poll {name}",
            # First polls spread over a second, so start-up is not a thundering herd on one host.
            next_run_time=now + timedelta(seconds=random.uniform(0, min(1.0, config.interval_s))),
        )
    return scheduler


def run_until_stopped(ingestor: Ingestor, stop: threading.Event) -> None:
    """Poll every source on schedule until ``stop`` is set, then finish the polls in flight."""
    scheduler = build_scheduler(ingestor)
    scheduler.start()
    log.info("ingest running", extra={"sources": list(ingestor.pollers)})
    try:
        stop.wait()
    finally:
        ingestor.stop.set()  # cut retry back-offs and rate-limit waits short
        scheduler.shutdown(wait=True)
        log.info("ingest stopped")


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT/SIGTERM while inside the block (main thread only)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal received, stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
