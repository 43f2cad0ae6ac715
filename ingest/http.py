"""Polite HTTP fetching: timeouts, retries with backoff, conditional GET, per-host rate limits, robots.txt.

One ``Fetcher`` (one httpx client) serves every source; it is thread-safe, since the scheduler
polls several sources at once. httpx and network errors are mapped to ``ingest.errors`` here.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Generic, TypeVar
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from finsent.ingest.errors import FetchError, HTTPError, ParseError, RobotsDisallowed, Stopped

__all__ = ["FetchResult", "Fetcher", "HostRateLimiter", "RetryPolicy", "backoff_delay"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_ROBOTS_TTL_S = 24 * 3600.0


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one poll."""

    timeout_s: float = 15.0
    retries: int = 3
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    # A body larger than this (after decompression: a gzip bomb counts at its real size) is refused
    # unread; feeds and API pages are kilobytes, so 20 MB is generous.
    max_bytes: int = 20 * 2**20


_SCHEMES = ("http", "https")


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: uniform in [c/2, c] where c = base * 2**attempt, capped."""
    ceiling = min(policy.backoff_max_s, policy.backoff_s * (2**attempt))
    return (rng or random).uniform(ceiling / 2, ceiling)


@dataclass
class FetchResult(Generic[T]):
    """The outcome of a successful poll: parsed content, or 'not modified' (304)."""

    value: T | None
    not_modified: bool
    etag: str | None
    last_modified: str | None
    attempts: int
    status: int


class HostRateLimiter:
    """At most one request per ``interval`` seconds to each host, across threads."""

    def __init__(self, interval_s: float = 1.0, per_host: Mapping[str, float] | None = None) -> None:
        self._default = interval_s
        self._per_host = {k.lower(): v for k, v in (per_host or {}).items()}
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str, stop: threading.Event) -> bool:
        """Block until this host may be called again; False when ``stop`` was set meanwhile."""
        host = host.lower()
        interval = self._per_host.get(host, self._default)
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(host, 0.0))
            self._next[host] = slot + interval  # reserve the slot before sleeping: fair across threads
        delay = slot - time.monotonic()
        return not (delay > 0 and stop.wait(delay))


class _Robots:
    """robots.txt per host, fetched with our user agent and cached for a day."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, RobotFileParser | None]] = {}
        self._lock = threading.Lock()

    def allowed(self, fetcher: Fetcher, url: str, policy: RetryPolicy, stop: threading.Event) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            cached = self._cache.get(origin)
        if cached is None or time.monotonic() - cached[0] > _ROBOTS_TTL_S:
            parser = self._load(fetcher, origin, policy, stop)
            with self._lock:
                self._cache[origin] = cached = (time.monotonic(), parser)
        parser = cached[1]
        return parser is None or parser.can_fetch(fetcher.agent_token, url)

    def _load(
        self, fetcher: Fetcher, origin: str, policy: RetryPolicy, stop: threading.Event
    ) -> RobotFileParser | None:
        robots_url = origin + "/robots.txt"
        if not fetcher.limiter.wait(urlsplit(origin).hostname or "", stop):
            raise Stopped("stopping")
        try:
            response = fetcher.client.get(robots_url, timeout=policy.timeout_s)
        except httpx.HTTPError as exc:
            # Unknown rules: do not guess; skip this poll and ask again next time.
            raise FetchError(f"robots.txt unreachable at {robots_url}: {type(exc).__name__}") from None
        parser = RobotFileParser(robots_url)
        if response.status_code in (401, 403):
            parser.disallow_all = True
        elif 400 <= response.status_code < 500:
            return None  # no robots.txt: everything is allowed
        elif response.status_code >= 500:
            raise FetchError(f"robots.txt answered {response.status_code} at {robots_url}")
        else:
            parser.parse(response.text.splitlines())
        return parser


class Fetcher:
    """GETs a URL politely and hands the body to a parser, retrying both on transient failures."""

    def __init__(
        self,
        *,
        user_agent: str,
        limiter: HostRateLimiter | None = None,
        stop: threading.Event | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.user_agent = user_agent
        self.agent_token = user_agent.split("/", 1)[0].strip() or "finsent"
        self.limiter = limiter or HostRateLimiter()
        self.stop = stop or threading.Event()
        self.client = httpx.Client(
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
            follow_redirects=True,
            transport=transport,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )
        self._robots = _Robots()

    def close(self) -> None:
        self.client.close()

    def get(
        self,
        url: str,
        parse: Callable[[bytes], T],
        *,
        policy: RetryPolicy = RetryPolicy(),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        validators: tuple[str | None, str | None] = (None, None),
        robots: bool = True,
    ) -> FetchResult[T]:
        """Fetch ``url`` and parse the body; raises FetchError or ParseError once retries are spent."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in _SCHEMES or not parts.hostname:
            # file://, ftp://, gopher://, data: ... never reach a transport (the config checks too).
            raise FetchError(f"refusing {parts.scheme or 'a relative'} URL {_safe(url)!r}: only http and https")
        host = parts.hostname
        if robots and not self._robots.allowed(self, url, policy, self.stop):
            raise RobotsDisallowed(f"robots.txt of {host} disallows {url} for {self.agent_token}")
        request_headers = dict(headers or {})
        etag, last_modified = validators
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        attempt = 0
        while True:
            if not self.limiter.wait(host, self.stop):
                raise Stopped("stopping")
            retry_after: float | None = None
            try:
                response, content = self._read(url, request_headers, params, policy)
                if response.status_code == 304:
                    return FetchResult(None, True, etag, last_modified, attempt + 1, 304)
                if response.status_code in _RETRY_STATUS:
                    retry_after = _retry_after(response.headers.get("Retry-After"))
                    raise HTTPError(f"HTTP {response.status_code} from {_safe(url)}", response.status_code)
                if response.status_code >= 400:
                    # 4xx other than the above will not heal by retrying now.
                    raise _Permanent(
                        HTTPError(f"HTTP {response.status_code} from {_safe(url)}", response.status_code)
                    )
                value = parse(content)
                return FetchResult(
                    value,
                    False,
                    response.headers.get("ETag"),
                    response.headers.get("Last-Modified"),
                    attempt + 1,
                    response.status_code,
                )
            except _Permanent as wrapped:
                raise wrapped.error from None
            except (httpx.TimeoutException, httpx.TransportError, HTTPError, ParseError) as exc:
                error: Exception = exc
                if isinstance(exc, httpx.TimeoutException):
                    error = FetchError(f"timeout after {policy.timeout_s:g}s from {_safe(url)}")
                elif isinstance(exc, httpx.TransportError):
                    error = FetchError(f"{type(exc).__name__} from {_safe(url)}: {exc}")
                if attempt >= policy.retries:
                    if isinstance(error, FetchError | ParseError):
                        error.attempts = attempt + 1
                    raise error from None
                delay = backoff_delay(attempt, policy)
                if retry_after is not None:
                    delay = min(max(delay, retry_after), policy.backoff_max_s)
                log.info(
                    "retrying",
                    extra={
                        "url": _safe(url),
                        "attempt": attempt + 1,
                        "error": str(error),
                        "delay_s": round(delay, 3),
                    },
                )
                attempt += 1
                if self.stop.wait(delay):
                    raise Stopped("stopping") from None


    def _read(
        self, url: str, headers: Mapping[str, str], params: Mapping[str, str] | None, policy: RetryPolicy
    ) -> tuple[httpx.Response, bytes]:
        """GET with the body bounded in size and in total time, not only between bytes.

        httpx's timeout applies to each read, so a server dripping one byte a second would hold
        a poll for ever; and ``response.content`` would read any size into memory.
        """
        deadline = time.monotonic() + policy.timeout_s
        with self.client.stream("GET", url, headers=headers, params=params, timeout=policy.timeout_s) as response:
            if response.status_code >= 300:
                return response, b""
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > policy.max_bytes:
                raise _Permanent(FetchError(f"body of {declared} bytes over the {policy.max_bytes} limit from {_safe(url)}"))
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > policy.max_bytes:
                    raise _Permanent(FetchError(f"body over the {policy.max_bytes} bytes limit from {_safe(url)}"))
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout(f"body not complete after {policy.timeout_s:g}s")
                chunks.append(chunk)
            return response, b"".join(chunks)


class _Permanent(Exception):
    def __init__(self, error: Exception) -> None:
        self.error = error


def _safe(url: str) -> str:
    """The URL without its query string, which may carry an API key."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError, IndexError):
            return None
