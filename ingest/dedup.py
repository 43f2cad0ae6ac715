"""What counts as 'the same item': canonical URLs and normalised text (pure functions)."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from finsent.messages import NewsMessage, identity_text

__all__ = ["canonical_url", "dedup_keys"]

# Query parameters that only track the click, never change the article.
_TRACKING = {
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "cmpid",
    "ref",
    "ref_src",
    "src",
    "guccounter",
}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """The URL with case, default port, fragment, tracking parameters and trailing slash normalised."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if parts.port and parts.port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING
    )
    return urlunsplit((scheme, host, path, urlencode(query), ""))


def dedup_keys(message: NewsMessage) -> list[str]:
    """Keys under which an item is remembered as sent: its canonical URL, and its text per source."""
    digest = hashlib.sha256(f"{message.source}\n{identity_text(message.text)}".encode()).hexdigest()[:32]
    keys = [f"text:{digest}"]
    if message.url:
        keys.insert(0, "url:" + canonical_url(message.url))
    return keys
