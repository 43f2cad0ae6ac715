"""Per-source counters: kept in process (for reports and tests) and exported to Prometheus."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass

from prometheus_client import Counter, Gauge

__all__ = ["ERRORS", "ITEMS", "LAST_SUCCESS", "POLLS", "SourceStats", "StatsBook"]

POLLS = Counter("finsent_ingest_polls_total", "Polls of a source by outcome.", ["source", "outcome"])
ITEMS = Counter(
    "finsent_ingest_items_total",
    "Items by outcome (fetched, sent, duplicate, rejected).",
    ["source", "outcome"],
)
ERRORS = Counter("finsent_ingest_errors_total", "Failed polls by reason.", ["source", "reason"])
LAST_SUCCESS = Gauge(
    "finsent_ingest_last_success_timestamp_seconds", "When a poll of the source last succeeded.", ["source"]
)


@dataclass
class SourceStats:
    """What one source has done since start."""

    polls: int = 0
    ok: int = 0
    not_modified: int = 0
    failed: int = 0
    retries: int = 0
    fetched: int = 0
    sent: int = 0
    duplicates: int = 0
    rejected: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    last_success_at: float | None = None


class StatsBook:
    """Thread-safe stats of every source."""

    def __init__(self) -> None:
        self._stats: dict[str, SourceStats] = {}
        self._lock = threading.Lock()

    def get(self, source: str) -> SourceStats:
        with self._lock:
            return SourceStats(**asdict(self._stats.setdefault(source, SourceStats())))

    def snapshot(self) -> dict[str, SourceStats]:
        with self._lock:
            return {name: SourceStats(**asdict(s)) for name, s in self._stats.items()}

    def items(
        self, source: str, *, fetched: int = 0, sent: int = 0, duplicates: int = 0, rejected: int = 0
    ) -> None:
        with self._lock:
            s = self._stats.setdefault(source, SourceStats())
            s.fetched += fetched
            s.sent += sent
            s.duplicates += duplicates
            s.rejected += rejected
        for outcome, n in (
            ("fetched", fetched),
            ("sent", sent),
            ("duplicate", duplicates),
            ("rejected", rejected),
        ):
            if n:
                ITEMS.labels(source, outcome).inc(n)

    def poll_ok(self, source: str, *, not_modified: bool, retries: int) -> None:
        with self._lock:
            s = self._stats.setdefault(source, SourceStats())
            s.polls += 1
            s.ok += 1
            s.not_modified += int(not_modified)
            s.retries += retries
            s.consecutive_failures = 0
            s.last_success_at = time.time()
        POLLS.labels(source, "not_modified" if not_modified else "ok").inc()
        LAST_SUCCESS.labels(source).set_to_current_time()

    def poll_failed(self, source: str, *, reason: str, error: str, retries: int) -> None:
        with self._lock:
            s = self._stats.setdefault(source, SourceStats())
            s.polls += 1
            s.failed += 1
            s.retries += retries
            s.consecutive_failures += 1
            s.last_error = error
        POLLS.labels(source, "error").inc()
        ERRORS.labels(source, reason).inc()
