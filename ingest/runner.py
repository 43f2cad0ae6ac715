"""Poll sources and publish what is new: tickers added, duplicates dropped, state kept after acks.

``Ingestor.poll(name)`` is one complete, synchronous poll of one source; the scheduler calls it
on each source's interval and tests call it directly. A failing source raises nothing out of
``poll``: its error is logged and counted, and the other sources carry on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from finsent.ingest.config import SourcesConfig
from finsent.ingest.errors import IngestError, PublishError, Stopped
from finsent.ingest.http import Fetcher, HostRateLimiter
from finsent.ingest.metrics import SourceStats, StatsBook
from finsent.ingest.pollers import Poller, make_poller
from finsent.ingest.producer import Publisher
from finsent.ingest.state import IngestState
from finsent.tickers import MAX_TICKERS, TickerMatcher
from finsent.messages import NewsMessage

__all__ = ["Ingestor", "PollReport"]

log = logging.getLogger(__name__)
_MAX_LOGGED_REJECTS = 3


@dataclass(frozen=True)
class PollReport:
    """What one poll of one source did."""

    source: str
    ok: bool
    not_modified: bool = False
    fetched: int = 0
    sent: int = 0
    duplicates: int = 0
    rejected: int = 0
    retries: int = 0
    error: str | None = None


class Ingestor:
    """Everything a poll needs: pollers, the dedup state, the publisher and the ticker matcher."""

    def __init__(
        self,
        config: SourcesConfig,
        *,
        state: IngestState,
        publisher: Publisher,
        user_agent: str,
        simulator_rate: float = 5.0,
        stop: threading.Event | None = None,
        fetcher: Fetcher | None = None,
        matcher: TickerMatcher | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.publisher = publisher
        self.stop = stop or threading.Event()
        self.fetcher = fetcher or Fetcher(
            user_agent=config.user_agent or user_agent,
            limiter=HostRateLimiter(config.per_host_interval_s, config.host_intervals),
            stop=self.stop,
        )
        # The configured watchlist (what the worker, replay and backfill use) plus the sources file's own.
        self.matcher = (matcher or TickerMatcher()).with_watchlist(config.watchlist, match_symbols=config.match_symbols)
        self.stats = StatsBook()
        self.pollers: dict[str, Poller] = {
            s.name: make_poller(s, fetcher=self.fetcher, state=state, simulator_rate=simulator_rate)
            for s in config.enabled
        }

    def close(self) -> None:
        self.fetcher.close()

    def source_stats(self, name: str) -> SourceStats:
        return self.stats.get(name)

    def _prepare(self, items: Iterable[NewsMessage], extra_tickers: list[str]) -> list[NewsMessage]:
        out = []
        for message in items:
            if extra_tickers:
                merged = list(dict.fromkeys([*message.tickers, *extra_tickers]))[:MAX_TICKERS]
                message = NewsMessage.model_validate({**message.model_dump(), "tickers": merged})
            out.append(self.matcher.enrich(message))
        return out

    def poll(self, name: str) -> PollReport:
        """Poll one source once; never raises for the source's own failures."""
        poller = self.pollers[name]
        config = poller.config
        fetched = sent = duplicates = rejected = retries = 0
        not_modified = False
        try:
            for batch in poller.poll():
                retries += batch.retries
                not_modified = batch.not_modified
                if batch.rejected:
                    rejected += len(batch.rejected)
                    self.stats.items(name, rejected=len(batch.rejected))
                    log.warning(
                        "items rejected",
                        extra={
                            "source": name,
                            "count": len(batch.rejected),
                            "examples": batch.rejected[:_MAX_LOGGED_REJECTS],
                        },
                    )
                items = self._prepare(batch.items, config.tickers)
                fetched += len(items)
                dropped = 0
                if config.dedup:
                    items, dropped = self.state.unsent(items)
                    duplicates += dropped
                self.stats.items(name, fetched=len(items) + dropped, duplicates=dropped)
                if items:
                    try:
                        acked = self.publisher.publish(items)
                    except PublishError as exc:
                        if config.dedup:
                            self.state.mark_sent(exc.acked)
                        sent += len(exc.acked)
                        self.stats.items(name, sent=len(exc.acked))
                        raise
                    if config.dedup:
                        self.state.mark_sent(acked)
                    sent += len(acked)
                    self.stats.items(name, sent=len(acked))
                if batch.on_published is not None:
                    batch.on_published()
        except Stopped:
            log.info("poll abandoned: shutting down", extra={"source": name})
            return PollReport(name, ok=False, fetched=fetched, sent=sent, error="stopped")
        except Exception as exc:  # one failing source must never stop the others
            reason = exc.reason if isinstance(exc, IngestError) else type(exc).__name__
            message = str(exc) or type(exc).__name__
            retries += max(0, getattr(exc, "attempts", 1) - 1)
            self.stats.poll_failed(name, reason=reason, error=message, retries=retries)
            # Expected failures (network, HTTP, parse) get one line; anything else its traceback.
            log.error(
                "poll failed",
                exc_info=not isinstance(exc, IngestError),
                extra={"source": name, "reason": reason, "error": message, "sent": sent},
            )
            return PollReport(
                name, ok=False, fetched=fetched, sent=sent, duplicates=duplicates, rejected=rejected,
                retries=retries, error=message,
            )  # fmt: skip
        self.stats.poll_ok(name, not_modified=not_modified, retries=retries)
        if sent or rejected:
            log.info(
                "poll done",
                extra={
                    "source": name,
                    "fetched": fetched,
                    "sent": sent,
                    "duplicates": duplicates,
                    "rejected": rejected,
                },
            )
        return PollReport(
            name, ok=True, not_modified=not_modified, fetched=fetched, sent=sent, duplicates=duplicates,
            rejected=rejected, retries=retries,
        )  # fmt: skip

    def poll_all(self) -> list[PollReport]:
        """Poll every enabled source once, one after the other."""
        return [self.poll(name) for name in self.pollers]
