"""Comment streams: a subreddit's public JSON listing, and a StockTwits-style message stream."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from finsent.ingest.errors import ParseError
from finsent.ingest.sources.base import Parsed, build_message, get_path, parse_time
from finsent.ingest.sources.json_api import load_json

__all__ = ["parse_reddit_listing", "parse_stocktwits"]

_GONE = {"[deleted]", "[removed]"}


def _reddit_fields(
    child: Any, *, source: str, lang: str, fetched_at: datetime, base_url: str
) -> dict[str, Any]:
    data = child.get("data") if isinstance(child, dict) else None
    if not isinstance(data, dict):
        raise ValueError("listing child without data")
    # Posts (t3) have a title and selftext; comments (t1) have a body.
    title = str(data.get("title") or "")
    body = str(data.get("selftext") or data.get("body") or "")
    if body.strip() in _GONE:
        body = ""
    if not title and not body:
        raise ValueError("deleted or empty")
    permalink = data.get("permalink")
    return {
        "source": source,
        "kind": "comment",
        "title": title,
        "body": body,
        "url": base_url.rstrip("/") + permalink if permalink else None,
        "published_at": parse_time(data.get("created_utc")) or fetched_at,
        "fetched_at": fetched_at,
        "tickers": [],
        "lang": lang,
    }


def parse_reddit_listing(
    content: bytes,
    *,
    source: str,
    fetched_at: datetime,
    lang: str = "en",
    base_url: str = "https://www.reddit.com",
) -> Parsed:
    """Posts or comments of a Reddit ``.json`` listing."""
    document = load_json(content)
    children = get_path(document, "data.children")
    if not isinstance(children, list):
        raise ParseError("not a Reddit listing: no data.children list")
    parsed = Parsed()
    for child in children:
        parsed.add(
            build_message(
                lambda c=child: _reddit_fields(
                    c, source=source, lang=lang, fetched_at=fetched_at, base_url=base_url
                )
            )
        )
    return parsed


def _stocktwits_fields(
    message: Any, *, source: str, lang: str, fetched_at: datetime, base_url: str
) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise ValueError("message is not an object")
    user = get_path(message, "user.username")
    ident = message.get("id")
    url = f"{base_url.rstrip('/')}/{user}/message/{ident}" if user and ident is not None else None
    return {
        "source": source,
        "kind": "comment",
        "title": "",
        "body": str(message.get("body") or ""),
        "url": url,
        "published_at": parse_time(message.get("created_at")) or fetched_at,
        "fetched_at": fetched_at,
        "tickers": [str(s) for s in get_path(message, "symbols[].symbol") or []],
        "lang": lang,
    }


def parse_stocktwits(
    content: bytes,
    *,
    source: str,
    fetched_at: datetime,
    lang: str = "en",
    base_url: str = "https://stocktwits.com",
) -> Parsed:
    """Messages of a StockTwits-style stream: author, text, created time, cashtag symbols."""
    document = load_json(content)
    messages = get_path(document, "messages")
    if not isinstance(messages, list):
        errors = get_path(document, "errors") or "no messages list"
        raise ParseError(f"not a message stream: {errors}")
    parsed = Parsed()
    for message in messages:
        parsed.add(
            build_message(
                lambda m=message: _stocktwits_fields(
                    m, source=source, lang=lang, fetched_at=fetched_at, base_url=base_url
                )
            )
        )
    return parsed
