"""Part 2, PostgreSQL outage: the database cut mid-stream (for each outage length), then a SIGTERM during
an outage; the worker holds its batch without acking, resumes by itself within 2 s of the database's
return, and loses or duplicates nothing. The alert scheduler runs through the same outages.

The shared cluster is never stopped: every process under test reaches the database through the
stack's proxy, and ``cut()`` resets its connections and refuses new ones.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass

from finsent.bench.faults.harness import Stack, news_payloads, non_json_lines, wait_until
from finsent.bench.faults.report import Result
from finsent.stream.broker import free_port

__all__ = ["FULL", "OutageSize", "REDUCED", "run"]

RESUME_BOUND_S = 2.0
GRACE_S = 60.0  # the worker's stop_grace_period in docker-compose.yml


@dataclass(frozen=True)
class OutageSize:
    messages: int  # per outage, half before the cut and half during it
    outages_s: tuple[float, ...]
    sigterm_outage_s: float


FULL = OutageSize(messages=20_000, outages_s=(30.0, 300.0), sigterm_outage_s=10.0)
REDUCED = OutageSize(messages=600, outages_s=(4.0,), sigterm_outage_s=3.0)


def run(stack: Stack, size: OutageSize, rng: random.Random) -> Result:
    result = Result("PostgreSQL outage", messages=size.messages * (len(size.outages_s) + 1))
    scheduler = _Scheduler(stack)
    try:
        return _run(stack, size, result, scheduler)
    finally:
        scheduler.stop()


def _run(stack: Stack, size: OutageSize, result: Result, scheduler: _Scheduler) -> Result:
    worker = stack.worker("worker-1").start()
    resumes: list[float] = []
    expected = 0
    for index, outage_s in enumerate(size.outages_s):
        batch = news_payloads(size.messages, tag=f"pg{index}")
        half = len(batch) // 2
        stack.produce((k, v) for k, v, _ in batch[:half])
        expected += half
        wait_until(lambda: stack.score_count() >= expected // 2, timeout_s=300, what="scores before the cut")
        stack.proxy.cut()
        cut_at = time.monotonic()
        stack.produce((k, v) for k, v, _ in batch[half:])
        expected += len(batch) - half
        time.sleep(min(2.0, outage_s / 3))
        committed_early = stack.committed()  # acks of batches written before the cut have landed by now
        time.sleep(max(0.0, outage_s - (time.monotonic() - cut_at)))
        committed_late = stack.committed()
        result.check(f"no ack during the {outage_s:.0f} s outage", committed_late == committed_early)
        result.check(f"worker alive through the {outage_s:.0f} s outage", worker.alive)
        scheduler_ready_during = scheduler.ready()
        before = stack.score_count()
        stack.proxy.restore()
        restored_at = time.monotonic()
        wait_until(lambda: stack.score_count() > before, timeout_s=120, every_s=0.05, what="first write after the outage")
        resumes.append(time.monotonic() - restored_at)
        wait_until(lambda: stack.score_count() >= expected, timeout_s=600, what=f"{expected} scores")
        scheduler_recovery = scheduler.wait_ready(timeout_s=60)
        result.check(f"scheduler said not ready during the {outage_s:.0f} s outage", scheduler_ready_during is False)
        result.check(f"scheduler ready again after the {outage_s:.0f} s outage", scheduler_recovery is not None)
        result.details[f"scheduler ready after the {outage_s:.0f} s outage (s)"] = scheduler_recovery

    # A SIGTERM while the database is away: the worker ends within its grace period without acking.
    tail = news_payloads(size.messages // 2, tag="pgterm")
    stack.proxy.cut()
    stack.produce((k, v) for k, v, _ in tail)
    time.sleep(size.sigterm_outage_s)
    committed_before_term = stack.committed()
    rc, stop_s = worker.terminate(timeout_s=GRACE_S + 30)
    committed_after_term = stack.committed()
    result.check(f"SIGTERM in an outage ends the worker within {GRACE_S:.0f} s", rc is not None and stop_s <= GRACE_S)
    result.check("SIGTERM in an outage acks nothing", committed_after_term == committed_before_term)
    stack.proxy.restore()
    expected += len(tail)
    survivor = stack.worker("worker-2").start()
    wait_until(lambda: stack.score_count() >= expected, timeout_s=600, what=f"{expected} scores after the SIGTERM")
    time.sleep(2)
    survivor.terminate()
    scheduler_alive = scheduler.alive()
    scheduler.stop()

    counts = stack.counts()
    bad_lines = non_json_lines([*stack.worker_logs(), scheduler.log_path])
    result.messages = expected
    result.faults = ", ".join(f"{s:.0f} s cut" for s in size.outages_s) + f", SIGTERM during a {size.sigterm_outage_s:.0f} s cut"
    result.lost = expected - counts.distinct
    result.duplicated = counts.scores - counts.distinct
    result.recovery = "writes resume " + ", ".join(f"{s:.2f} s" for s in resumes) + " after the database returns"
    result.check("nothing lost or duplicated", counts.documents == counts.scores == counts.distinct == expected)
    result.check("rollups equal rows", counts.rolled == expected)
    result.check(f"writes resume within {RESUME_BOUND_S:.0f} s", max(resumes) <= RESUME_BOUND_S)
    result.check("scheduler survived", scheduler_alive)
    result.check("logs are JSON lines only", not bad_lines)
    result.details.update(
        {
            "SIGTERM to exit during the outage (s)": round(stop_s, 1),
            "worker exit status": rc,
            "non-JSON log lines": len(bad_lines),
            "ingest": "no database (dedup state is a local SQLite file): unaffected",
            "dashboard": "tests/dashboard/test_faults.py, through the same proxy: 'Database unavailable', then the page again",
        }
    )
    if bad_lines:
        result.details["first non-JSON line"] = bad_lines[0]
    return result


class _Scheduler:
    """``finsent alerts run`` through the proxy, evaluating every second, with its /readyz."""

    def __init__(self, stack: Stack) -> None:
        self.port = free_port()
        self.log_path = stack.work_dir / "alerts.log"
        env = stack.env(FINSENT_ALERTS_INTERVAL_S="1", FINSENT_ALERTS_METRICS_PORT=str(self.port))
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "finsent.cli", "alerts", "run"], env=env, stdout=log, stderr=log)
        log.close()
        try:
            self.wait_ready(timeout_s=90)
        except TimeoutError:
            pass

    def ready(self) -> bool | None:
        """True/False from /readyz; None when it does not answer at all."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as response:
                return response.status == 200
        except urllib.error.HTTPError:
            return False
        except OSError:
            return None

    def wait_ready(self, *, timeout_s: float) -> float | None:
        try:
            return round(wait_until(lambda: self.ready() is True, timeout_s=timeout_s, every_s=0.2, what="scheduler ready"), 1)
        except TimeoutError:
            return None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
