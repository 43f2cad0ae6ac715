"""``finsent alerts run``: APScheduler runs the evaluation cycle and the dispatch tick, one at a time.

Failure policy: a job that raises (database or network down) is logged and runs again at its
next tick; nothing is lost, because state and notifications live in the database. SIGTERM and
SIGINT let the job in flight finish, then stop.
"""

from __future__ import annotations

import gc
import logging
import signal
from collections.abc import Callable
from datetime import timezone
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from finsent.alerts.cycle import AlertCycle

__all__ = ["build_scheduler", "run_forever"]

log = logging.getLogger(__name__)


def _guarded(name: str, job: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except Exception:  # the next tick retries; state is in the database, not in this process
            log.exception("alerts job failed; it runs again at its next tick", extra={"job": name})

    return run


def build_scheduler(
    cycle: AlertCycle,
    *,
    interval_s: float,
    dispatch_interval_s: float,
    scheduler: BaseScheduler | None = None,
) -> BaseScheduler:
    """A scheduler with two jobs: evaluate every ``interval_s``, dispatch every ``dispatch_interval_s``."""
    sched = scheduler or BlockingScheduler(timezone=timezone.utc)
    # One worker thread: evaluation and dispatch never overlap, so they never plan the same group twice.
    sched.configure(
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=timezone.utc,
    )
    sched.add_job(_guarded("evaluate", cycle.evaluate), IntervalTrigger(seconds=interval_s), id="evaluate")
    sched.add_job(_guarded("dispatch", cycle.dispatch), IntervalTrigger(seconds=dispatch_interval_s), id="dispatch")
    return sched


def run_forever(cycle: AlertCycle, *, interval_s: float, dispatch_interval_s: float) -> None:
    """Evaluate once now, then on schedule until SIGTERM/SIGINT."""
    sched = build_scheduler(cycle, interval_s=interval_s, dispatch_interval_s=dispatch_interval_s)
    _guarded("evaluate", cycle.evaluate)()  # don't wait a whole interval for the first verdict
    # What start-up and the first (cold) cycle built lives as long as the process: keep it out
    # of the garbage collector's full scans, which otherwise pause a cycle for 100+ ms.
    gc.freeze()

    def stop(signum: int, _frame: object) -> None:
        log.warning("stopping alerts scheduler", extra={"signal": signal.Signals(signum).name})
        sched.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.warning("alerts scheduler started", extra={"interval_s": interval_s, "dispatch_interval_s": dispatch_interval_s})
    sched.start()  # blocks until stop(); the executor then lets the job in flight finish
