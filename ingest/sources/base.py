"""Pieces every parser shares: the parse result, time and HTML clean-up, JSON path lookup."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import ValidationError

from finsent.messages import NewsMessage

__all__ = ["Parsed", "build_message", "get_path", "parse_time", "strip_html"]

_TAG = re.compile(r"<[^>]+>")
_WS = re.compile(r"\s+")


@dataclass
class Parsed:
    """Messages parsed from one response, and why the entries that did not make it were dropped."""

    items: list[NewsMessage] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def add(self, outcome: NewsMessage | str) -> None:
        if isinstance(outcome, NewsMessage):
            self.items.append(outcome)
        else:
            self.rejected.append(outcome)


def strip_html(text: str | None) -> str:
    """Plain text from a feed's HTML snippet."""
    if not text:
        return ""
    return _WS.sub(" ", html.unescape(_TAG.sub(" ", text))).strip()


def parse_time(value: Any) -> datetime | None:
    """A UTC datetime from ISO 8601, RFC 2822, epoch seconds or milliseconds, or a struct_time."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, time.struct_time):  # feedparser normalises feed dates to UTC struct_time
        return datetime(*value[:6], tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = value / 1000.0 if value > 1e11 else float(value)  # 1e11 s is the year 5138: so these are ms
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            # 1e20, inf, nan: the item's time is wrong, so the item is rejected (not given another time).
            raise ValueError(f"timestamp {value!r} out of range") from None
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None:
            return parse_time(number)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                parsed = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def get_path(obj: Any, path: str) -> Any:
    """Look up a dotted path ('data.children', 'media.0.url'); 'a[].b' maps over the list 'a'."""
    if not path:
        return obj
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        seq = get_path(obj, head[:-2]) if head[:-2] else obj
        if not isinstance(seq, list):
            return None
        values = [get_path(item, rest) for item in seq]
        return [v for v in values if v is not None]
    if isinstance(obj, dict):
        value = obj.get(head)
    elif isinstance(obj, list) and head.lstrip("-").isdigit():
        index = int(head)
        value = obj[index] if -len(obj) <= index < len(obj) else None
    else:
        return None
    return get_path(value, rest) if rest else value


def build_message(make: Callable[[], dict[str, Any]]) -> NewsMessage | str:
    """A validated message from the fields ``make`` returns, or the reason it is not one."""
    try:
        return NewsMessage.model_validate(make())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        return f"{where}: {first['msg']}"
    except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError, OSError, RecursionError) as exc:
        # Whatever one item's fields do, it costs that item only, never the rest of the response.
        return f"{type(exc).__name__}: {exc}"
