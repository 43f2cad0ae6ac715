"""Builders for the documents the loopback servers serve: RSS, Atom, JSON APIs, comment listings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

BASE_TIME = datetime(2025, 3, 3, 14, 0, tzinfo=UTC)


def rss(items: list[tuple[str, str, str]], *, start: datetime = BASE_TIME) -> bytes:
    """An RSS 2.0 feed of (title, description, link) items, one minute apart."""
    entries = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link><description>{escape(d)}</description>"
        f"<pubDate>{format_datetime(start + timedelta(minutes=i))}</pubDate><guid>{escape(link)}</guid></item>"
        for i, (t, d, link) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Test wire</title>'
        f"<link>http://example.invalid/</link><description>test</description>{entries}</channel></rss>"
    ).encode()


def atom(items: list[tuple[str, str, str]], *, start: datetime = BASE_TIME) -> bytes:
    entries = "".join(
        f'<entry><title>{escape(t)}</title><link href="{escape(link)}"/><id>{escape(link)}</id>'
        f"<updated>{(start + timedelta(minutes=i)).isoformat()}</updated><summary>{escape(d)}</summary></entry>"
        for i, (t, d, link) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Atom test</title>'
        f"<id>urn:test</id><updated>{start.isoformat()}</updated>{entries}</feed>"
    ).encode()


def news_api(items: list[dict]) -> bytes:
    """A NewsAPI-like document: {"status": "ok", "data": {"articles": [...]}}."""
    return json.dumps({"status": "ok", "data": {"articles": items}}).encode()


def reddit(posts: list[tuple[str, str, str]], *, start: datetime = BASE_TIME) -> bytes:
    """A subreddit .json listing of (id, title, selftext) posts."""
    children = [
        {
            "kind": "t3",
            "data": {
                "id": pid,
                "title": title,
                "selftext": text,
                "permalink": f"/r/stocks/comments/{pid}/x/",
                "created_utc": (start + timedelta(minutes=i)).timestamp(),
            },
        }
        for i, (pid, title, text) in enumerate(posts)
    ]
    return json.dumps({"kind": "Listing", "data": {"children": children, "after": None}}).encode()


def stocktwits(messages: list[tuple[int, str, list[str]]], *, start: datetime = BASE_TIME) -> bytes:
    """A StockTwits-like stream of (id, body, symbols)."""
    out = [
        {
            "id": mid,
            "body": body,
            "created_at": (start + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "user": {"username": f"trader{mid % 7}"},
            "symbols": [{"symbol": s} for s in symbols],
        }
        for i, (mid, body, symbols) in enumerate(messages)
    ]
    return json.dumps({"response": {"status": 200}, "messages": out}).encode()
