"""APScheduler drives the cycle: both jobs run, never overlap, and a failing job runs again next tick."""

from __future__ import annotations

import threading
import time
from datetime import timezone

from apscheduler.schedulers.background import BackgroundScheduler

from finsent.alerts.scheduler import build_scheduler


class Recorder:
    """Stands in for AlertCycle: records calls, fails the first evaluation, notices overlap."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.active = 0
        self.overlapped = False
        self.lock = threading.Lock()

    def _run(self, name: str) -> None:
        with self.lock:
            self.active += 1
            self.overlapped |= self.active > 1
        try:
            time.sleep(0.05)
            self.calls.append(name)
            if name == "evaluate" and self.calls.count("evaluate") == 1:
                raise RuntimeError("database down")
        finally:
            with self.lock:
                self.active -= 1

    def evaluate(self) -> None:
        self._run("evaluate")

    def dispatch(self) -> None:
        self._run("dispatch")


def test_evaluate_and_dispatch_run_on_schedule_one_at_a_time() -> None:
    cycle = Recorder()
    sched = build_scheduler(
        cycle,  # type: ignore[arg-type]
        interval_s=0.2,
        dispatch_interval_s=0.1,
        scheduler=BackgroundScheduler(timezone=timezone.utc),
    )
    assert {job.id for job in sched.get_jobs()} == {"evaluate", "dispatch"}
    sched.start()
    try:
        deadline = time.monotonic() + 10
        while cycle.calls.count("evaluate") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sched.shutdown(wait=True)
    assert cycle.calls.count("evaluate") >= 3  # the first one raised; the scheduler kept going
    assert cycle.calls.count("dispatch") >= 3
    assert not cycle.overlapped


def test_retention_runs_at_start_in_its_own_thread_and_never_holds_up_evaluation() -> None:
    cycle = Recorder()
    started = threading.Event()
    release = threading.Event()
    runs: list[str] = []

    def slow_purge() -> None:  # a long first purge
        runs.append(threading.current_thread().name)
        started.set()
        release.wait(10)

    sched = build_scheduler(
        cycle,  # type: ignore[arg-type]
        interval_s=0.2,
        dispatch_interval_s=0.1,
        scheduler=BackgroundScheduler(timezone=timezone.utc),
        maintenance=slow_purge,
        maintenance_interval_s=3600,
    )
    sched.start()
    try:
        assert started.wait(10)  # at start-up, not an hour later
        deadline = time.monotonic() + 10
        while cycle.calls.count("evaluate") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cycle.calls.count("evaluate") >= 3  # evaluation went on while the purge ran
    finally:
        release.set()
        sched.shutdown(wait=True)
    assert len(runs) == 1
