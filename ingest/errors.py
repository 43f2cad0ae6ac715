"""Exceptions of the ingest package.

    IngestError
     ├── ConfigError         the sources file is wrong, or a secret it names is not in the environment
     ├── FetchError          a source could not be fetched, even after retries
     │    ├── HTTPError      the server kept answering with an error status
     │    └── RobotsDisallowed   robots.txt forbids the URL for our user agent
     ├── ParseError          the body is not the feed or JSON shape the source expects
     └── PublishError        the broker did not acknowledge every item

Third-party errors (httpx, feedparser, kafka-python) are mapped to these at the module that
calls them, so the scheduler only needs to know this tree.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigError",
    "FetchError",
    "HTTPError",
    "IngestError",
    "ParseError",
    "PublishError",
    "RobotsDisallowed",
    "Stopped",
]


class IngestError(Exception):
    """Base of every error the ingest package raises on purpose."""

    reason = "error"
    attempts = 1  # requests made before giving up (set by the fetcher)


class ConfigError(IngestError):
    """The sources file is invalid, or names an environment variable that is not set."""

    reason = "config"


class FetchError(IngestError):
    """A source could not be fetched (network, timeout, stopping), even after retries."""

    reason = "fetch"


class HTTPError(FetchError):
    """The server answered with an error status."""

    reason = "http_status"

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RobotsDisallowed(FetchError):
    """robots.txt of the host forbids this URL for finsent's user agent."""

    reason = "robots"


class ParseError(IngestError):
    """The response body is not a valid feed or JSON document of the expected shape."""

    reason = "parse"


class PublishError(IngestError):
    """Some items were not acknowledged by the broker; they stay unsent and are retried."""

    reason = "publish"

    def __init__(self, message: str, acked: list[Any] | None = None) -> None:
        super().__init__(message)
        self.acked = acked or []  # the messages that did make it, so they can still be recorded


class Stopped(IngestError):
    """A poll was abandoned (not failed) because ingest is shutting down."""

    reason = "stopped"
