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
from datetime import datetime, timezone
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from finsent.alerts import metrics
from finsent.alerts.cycle import AlertCycle

__all__ = ["build_scheduler", "run_forever"]

log = logging.getLogger(__name__)


def _guarded(name: str, job: Callable[[], Any], health: metrics.Health | None = None) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except Exception as exc:  # the next tick retries; state is in the database, not in this process
            log.exception("alerts job failed; it runs again at its next tick", extra={"job": name})
            if name == "evaluate":
                metrics.EVALUATIONS.labels("error").inc()
            if health is not None:
                health.failed(f"{name}: {type(exc).__name__}: {exc}")
            return
        if name == "evaluate":
            metrics.EVALUATIONS.labels("ok").inc()
        if health is not None:
            health.ok()

    return run


def build_scheduler(
    cycle: AlertCycle,
    *,
    interval_s: float,
    dispatch_interval_s: float,
    scheduler: BaseScheduler | None = None,
    health: metrics.Health | None = None,
    maintenance: Callable[[], Any] | None = None,
    maintenance_interval_s: float = 3600.0,
) -> BaseScheduler:
    """A scheduler with two jobs: evaluate every ``interval_s``, dispatch every ``dispatch_interval_s``."""
    sched = scheduler or BlockingScheduler(timezone=timezone.utc)
    # One worker thread: evaluation and dispatch never overlap, so they never plan the same group twice.
    sched.configure(
        # Retention has a thread of its own: a long first purge must not hold up evaluation.
        executors={"default": ThreadPoolExecutor(max_workers=1), "maintenance": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=timezone.utc,
    )
    sched.add_job(_guarded("evaluate", cycle.evaluate, health), IntervalTrigger(seconds=interval_s), id="evaluate")
    sched.add_job(
        _guarded("dispatch", cycle.dispatch, health), IntervalTrigger(seconds=dispatch_interval_s), id="dispatch"
    )
    if maintenance is not None:
        # Partitions ahead and retention (finsent.retention): in small batches, first at start-up.
        sched.add_job(
            _guarded("retention", maintenance),
            IntervalTrigger(seconds=maintenance_interval_s),
            id="retention",
            executor="maintenance",
            next_run_time=datetime.now(timezone.utc),
        )
    return sched


def run_forever(
    cycle: AlertCycle,
    *,
    interval_s: float,
    dispatch_interval_s: float,
    metrics_port: int | None = None,
    metrics_bind: str = "127.0.0.1",
    maintenance: Callable[[], Any] | None = None,
    maintenance_interval_s: float = 3600.0,
) -> None:
    """Evaluate once now, then on schedule until SIGTERM/SIGINT; serve /metrics, /healthz, /readyz when given a port."""
    health = metrics.Health(stale_after_s=3 * max(interval_s, dispatch_interval_s) + 30)
    if metrics_port:
        metrics.serve(metrics_bind, metrics_port, health)
    sched = build_scheduler(
        cycle,
        interval_s=interval_s,
        dispatch_interval_s=dispatch_interval_s,
        health=health,
        maintenance=maintenance,
        maintenance_interval_s=maintenance_interval_s,
    )
    _guarded("evaluate", cycle.evaluate, health)()  # don't wait a whole interval for the first verdict
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
