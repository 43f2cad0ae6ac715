"""JSON HTTP APIs with a declarative mapping: where the item list is, and where each field is in an item."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from finsent.ingest.errors import ParseError
from finsent.ingest.sources.base import Parsed, build_message, get_path, parse_time, strip_html

__all__ = ["DEFAULT_MAPPING", "load_json", "map_item", "parse_json_api"]

DEFAULT_MAPPING: dict[str, str] = {
    "title": "title",
    "body": "description",
    "url": "url",
    "published_at": "published_at",
}


def load_json(content: bytes) -> Any:
    """Decoded JSON, or ParseError saying why not."""
    try:
        return json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"broken JSON: {exc}") from None
    except RecursionError:
        raise ParseError("broken JSON: nested too deeply") from None
    except ValueError as exc:  # an integer literal over Python's 4,300-digit conversion limit
        raise ParseError(f"broken JSON: {str(exc)[:200]}") from None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(_text(v) for v in value)
    return strip_html(str(value))


def map_item(
    item: Any,
    mapping: Mapping[str, str],
    *,
    source: str,
    kind: str,
    lang: str,
    fetched_at: datetime,
    url_prefix: str | None = None,
) -> dict[str, Any]:
    """Message fields of one API item according to ``mapping`` (message field -> path in the item)."""
    if not isinstance(item, dict):
        raise ValueError(f"item is a {type(item).__name__}, not an object")
    url = get_path(item, mapping["url"]) if mapping.get("url") else None
    if url is not None:
        url = str(url)
        if url_prefix and url.startswith("/"):
            url = url_prefix.rstrip("/") + url
    tickers = get_path(item, mapping["tickers"]) if mapping.get("tickers") else None
    if isinstance(tickers, str):
        tickers = [t for t in tickers.replace(",", " ").split() if t]
    published = parse_time(get_path(item, mapping["published_at"])) if mapping.get("published_at") else None
    return {
        "source": source,
        "kind": kind,
        "title": _text(get_path(item, mapping["title"])) if mapping.get("title") else "",
        "body": _text(get_path(item, mapping["body"])) if mapping.get("body") else "",
        "url": url or None,
        "published_at": published or fetched_at,
        "fetched_at": fetched_at,
        "tickers": [str(t) for t in tickers or []],
        "lang": str(get_path(item, mapping["lang"]) or lang) if mapping.get("lang") else lang,
    }


def parse_json_api(
    content: bytes,
    *,
    source: str,
    items_path: str,
    mapping: Mapping[str, str],
    fetched_at: datetime,
    kind: Literal["news", "comment"] = "news",
    lang: str = "en",
    url_prefix: str | None = None,
) -> Parsed:
    """Messages from a JSON document; ParseError when it is broken or the item list is missing."""
    document = load_json(content)
    items = get_path(document, items_path) if items_path else document
    if not isinstance(items, list):
        raise ParseError(
            f"expected a list at {items_path or 'the top level'!r}, found {type(items).__name__}"
        )
    parsed = Parsed()
    for item in items:
        parsed.add(
            build_message(
                lambda i=item: map_item(
                    i,
                    mapping,
                    source=source,
                    kind=kind,
                    lang=lang,
                    fetched_at=fetched_at,
                    url_prefix=url_prefix,
                )
            )
        )
    return parsed
