"""RSS and Atom feeds: feedparser reads the bytes httpx fetched (feedparser never does I/O here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import feedparser

from finsent.ingest.errors import ParseError
from finsent.ingest.sources.base import Parsed, build_message, parse_time, strip_html

__all__ = ["parse_feed"]


def _entry_fields(entry: Any, *, source: str, kind: str, lang: str, fetched_at: datetime) -> dict[str, Any]:
    content = entry.get("content") or []
    body = strip_html(entry.get("summary") or (content[0].get("value") if content else ""))
    title = strip_html(entry.get("title"))
    if body == title:
        body = ""  # many feeds repeat the headline as the description
    published = entry.get("published_parsed") or entry.get("updated_parsed") or entry.get("created_parsed")
    tickers = [t.get("term") for t in entry.get("tags") or [] if str(t.get("term", "")).startswith("$")]
    return {
        "source": source,
        "kind": kind,
        "title": title,
        "body": body,
        "url": entry.get("link") or None,
        # A feed without dates still gets a time: when we first saw the item.
        "published_at": parse_time(published) or fetched_at,
        "fetched_at": fetched_at,
        "tickers": tickers,
        "lang": (entry.get("language") or lang)[:16],
    }


def parse_feed(
    content: bytes,
    *,
    source: str,
    fetched_at: datetime,
    kind: Literal["news", "comment"] = "news",
    lang: str = "en",
) -> Parsed:
    """Messages from an RSS or Atom document; ParseError when the bytes are not a feed at all."""
    feed = feedparser.parse(content)
    entries = feed.get("entries") or []
    if not entries and (feed.get("bozo") or not feed.get("version")):
        # feedparser recovers what it can from broken XML; nothing recovered means a broken feed.
        problem = feed.get("bozo_exception") or "no RSS/Atom structure found"
        raise ParseError(f"not a feed: {problem}")
    parsed = Parsed()
    for entry in entries:
        parsed.add(
            build_message(
                lambda e=entry: _entry_fields(e, source=source, kind=kind, lang=lang, fetched_at=fetched_at)
            )
        )
    if feed.get("bozo") and not parsed.items:
        raise ParseError(f"broken feed: {feed.get('bozo_exception')}")
    return parsed
