"""One poller per configured source: fetch (or read, or generate) and parse into batches of messages.

A poll yields batches; each may carry a callback to run once the batch is safely published
(store the ETag, mark a file replayed), so nothing is marked done before the broker has it.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from finsent.ingest.config import (
    FileSource,
    HttpSource,
    JsonApiSource,
    RedditSource,
    RssSource,
    SimulatorSource,
    StocktwitsSource,
)
from finsent.ingest.errors import ConfigError, FetchError
from finsent.ingest.http import Fetcher, RetryPolicy
from finsent.ingest.sources.base import Parsed
from finsent.ingest.sources.comments import parse_reddit_listing, parse_stocktwits
from finsent.ingest.sources.files import iter_file_rows, list_inputs, to_message
from finsent.ingest.sources.json_api import parse_json_api
from finsent.ingest.sources.rss import parse_feed
from finsent.ingest.state import IngestState
from finsent.messages import NewsMessage, utcnow

__all__ = ["Batch", "FilePoller", "HttpPoller", "Poller", "SimulatorPoller", "make_poller"]

log = logging.getLogger(__name__)
_FILE_BATCH = 1000


@dataclass
class Batch:
    """Messages from one poll (or one slice of it) and what to do once they are published."""

    items: list[NewsMessage] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    not_modified: bool = False
    retries: int = 0
    on_published: Callable[[], None] | None = None


class Poller(Protocol):
    """Anything the runner can poll."""

    config: Any

    def poll(self) -> Iterator[Batch]: ...


ParseFn = Callable[[bytes, datetime], Parsed]


def _http_parser(config: HttpSource) -> ParseFn:
    name, lang = config.name, config.lang
    if isinstance(config, RssSource):
        return lambda body, now: parse_feed(
            body, source=name, fetched_at=now, kind=config.item_kind, lang=lang
        )
    if isinstance(config, JsonApiSource):
        return lambda body, now: parse_json_api(
            body,
            source=name,
            items_path=config.items,
            mapping=config.mapping,
            fetched_at=now,
            kind=config.item_kind,
            lang=lang,
            url_prefix=config.url_prefix,
        )
    if isinstance(config, RedditSource):
        return lambda body, now: parse_reddit_listing(
            body, source=name, fetched_at=now, lang=lang, base_url=config.permalink_base
        )
    if isinstance(config, StocktwitsSource):
        return lambda body, now: parse_stocktwits(
            body, source=name, fetched_at=now, lang=lang, base_url=config.message_base
        )
    raise ConfigError(f"no parser for source kind {config.kind!r}")  # pragma: no cover - config forbids it


class HttpPoller:
    """Feeds, JSON APIs and comment streams: a conditional GET, parsed by the source kind's parser."""

    def __init__(self, config: HttpSource, fetcher: Fetcher, state: IngestState) -> None:
        self.config = config
        self.fetcher = fetcher
        self.state = state
        self._parse = _http_parser(config)
        self._policy = RetryPolicy(config.timeout_s, config.retries, config.backoff_s, config.backoff_max_s)
        self._cache_key = f"{config.name} {config.url}"

    def poll(self) -> Iterator[Batch]:
        c = self.config
        validators = self.state.validators(self._cache_key) if c.conditional else (None, None)
        result = self.fetcher.get(
            c.url,
            lambda body: self._parse(body, utcnow()),
            policy=self._policy,
            headers={k: v.get_secret_value() for k, v in c.headers.items()},
            params={k: v.get_secret_value() for k, v in c.params.items()} or None,
            validators=validators,
            robots=c.respect_robots,
        )
        if result.not_modified or result.value is None:
            yield Batch(not_modified=True, retries=result.attempts - 1)
            return

        def remember() -> None:
            if c.conditional:
                self.state.save_validators(self._cache_key, result.etag, result.last_modified)

        parsed = result.value
        yield Batch(parsed.items, parsed.rejected, retries=result.attempts - 1, on_published=remember)


class FilePoller:
    """A folder of JSONL/CSV/Parquet files: new or changed files are sent, in batches, once."""

    def __init__(self, config: FileSource, state: IngestState) -> None:
        self.config = config
        self.state = state

    def poll(self) -> Iterator[Batch]:
        c = self.config
        root = Path(c.path)
        try:
            files = list_inputs(root)
        except (OSError, ValueError) as exc:
            raise FetchError(str(exc)) from None
        todo = [f for f in files if not self.state.file_done(c.name, f)]
        if not todo:
            yield Batch(not_modified=True)
            return
        for path in todo:
            stat = path.stat()  # taken before reading: a file that grows meanwhile is read again next poll
            batch = Batch()
            for row in iter_file_rows(path):
                if row.data is None:
                    batch.rejected.append(f"{path.name}:{row.index + 1}: {row.error}")
                else:
                    try:
                        batch.items.append(to_message(row.data, default_source=c.name, fields=c.fields))
                    except ValueError as exc:
                        batch.rejected.append(f"{path.name}:{row.index + 1}: {str(exc).splitlines()[0]}")
                if len(batch.items) + len(batch.rejected) >= _FILE_BATCH:
                    yield batch
                    batch = Batch()
            batch.on_published = partial(
                self.state.mark_file_done, c.name, path, stat.st_size, stat.st_mtime_ns
            )
            yield batch


class SimulatorPoller:
    """The simulator as a source: each poll drains the messages whose event time has come."""

    def __init__(self, config: SimulatorSource, *, default_rate: float) -> None:
        from finsent.ingest.simulator import load_scenario, simulate

        self.config = config
        scenario = load_scenario(config.scenario, rate=config.rate or default_rate)
        scenario = replace(scenario, news_source=config.name, comment_source=config.name)
        seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**31)
        self._stream = simulate(scenario, start=utcnow(), seed=seed)
        self._next: NewsMessage | None = next(self._stream)
        self._lock = threading.Lock()

    def poll(self) -> Iterator[Batch]:
        now = utcnow()
        items: list[NewsMessage] = []
        with self._lock:
            while self._next is not None and self._next.published_at <= now:
                items.append(self._next.model_copy(update={"fetched_at": now}))
                self._next = next(self._stream, None)
        yield Batch(items)


def make_poller(config: Any, *, fetcher: Fetcher, state: IngestState, simulator_rate: float) -> Poller:
    """The poller for one source config."""
    if isinstance(config, HttpSource):
        return HttpPoller(config, fetcher, state)
    if isinstance(config, FileSource):
        return FilePoller(config, state)
    if isinstance(config, SimulatorSource):
        return SimulatorPoller(config, default_rate=simulator_rate)
    raise ConfigError(f"unknown source kind {getattr(config, 'kind', config)!r}")
