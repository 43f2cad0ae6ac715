"""Hostile input to ingest: arbitrary bytes to every parser, entity bombs, huge and slow responses, odd schemes.

Property tests (hypothesis) state the contract: a parser returns a ``Parsed`` or raises
``ParseError``, nothing else, for any bytes a server may send. The fetcher's limits are
checked against a real loopback HTTP server.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finsent.ingest.config import load_sources
from finsent.ingest.errors import ConfigError, FetchError, ParseError
from finsent.ingest.http import Fetcher, RetryPolicy
from finsent.ingest.sources.base import Parsed
from finsent.ingest.sources.comments import parse_reddit_listing, parse_stocktwits
from finsent.ingest.sources.files import list_inputs
from finsent.ingest.sources.json_api import DEFAULT_MAPPING, parse_json_api
from finsent.ingest.sources.rss import parse_feed
from tests.utils.http_server import LoopbackServer, Response

NOW = datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON values of any shape, with the awkward scalars feeds actually carry (huge ints, NaN-free floats).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)
item_keys = st.sampled_from(["title", "description", "url", "published_at", "data", "children", "body", "created_at"])
api_documents = st.dictionaries(
    st.sampled_from(["items", "data", "articles"]),
    st.lists(st.dictionaries(item_keys, json_values, max_size=6), max_size=5) | json_values,
    max_size=2,
)


def _contract(parse, content: bytes) -> None:  # type: ignore[no-untyped-def]
    try:
        result = parse(content)
    except ParseError:
        return
    assert isinstance(result, Parsed)
    for item in result.items:
        assert "\x00" not in item.text and item.text.strip()


@FAST
@given(st.binary(max_size=2000))
def test_feed_parser_takes_any_bytes(content: bytes) -> None:
    _contract(lambda c: parse_feed(c, source="feed", fetched_at=NOW), content)


@FAST
@given(st.text(max_size=300))
def test_feed_parser_takes_any_text_inside_a_feed(title: str) -> None:
    escaped = title.replace("&", "&amp;").replace("<", "&lt;")
    doc = f'<rss version="2.0"><channel><title>c</title><item><title>{escaped}</title><pubDate>{escaped}</pubDate></item></channel></rss>'
    _contract(lambda c: parse_feed(c, source="feed", fetched_at=NOW), doc.encode("utf-8", "surrogatepass"))


@FAST
@given(st.binary(max_size=2000) | api_documents.map(lambda d: json.dumps(d).encode()))
def test_json_api_parser_takes_any_bytes_and_any_json(content: bytes) -> None:
    _contract(
        lambda c: parse_json_api(c, source="api", items_path="items", mapping=DEFAULT_MAPPING, fetched_at=NOW), content
    )


@FAST
@given(st.binary(max_size=1000) | json_values.map(lambda v: json.dumps({"data": {"children": [{"data": v}]}}).encode()))
def test_reddit_parser_takes_any_bytes(content: bytes) -> None:
    _contract(lambda c: parse_reddit_listing(c, source="reddit", fetched_at=NOW), content)


@FAST
@given(st.binary(max_size=1000) | json_values.map(lambda v: json.dumps({"messages": [v, {"body": v, "created_at": v}]}).encode()))
def test_stocktwits_parser_takes_any_bytes(content: bytes) -> None:
    _contract(lambda c: parse_stocktwits(c, source="st", fetched_at=NOW), content)


def test_deeply_nested_json_is_a_parse_error_not_a_crash() -> None:
    with pytest.raises(ParseError):
        parse_json_api(b"[" * 100_000 + b"]" * 100_000, source="api", items_path="", mapping=DEFAULT_MAPPING, fetched_at=NOW)
    with pytest.raises(ParseError):  # past Python's 4,300-digit integer conversion limit
        parse_json_api(b'{"items": [' + b"9" * 5000 + b"]}", source="api", items_path="items", mapping=DEFAULT_MAPPING, fetched_at=NOW)


def billion_laughs() -> bytes:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]>'
        '<rss version="2.0"><channel><title>t</title><item><title>&lol9;</title></item></channel></rss>'
    ).encode()


def test_billion_laughs_is_refused_quickly_and_small() -> None:
    # expat's amplification limit stops the expansion; feedparser's loose fallback then reads the
    # entity reference as the literal text "&lol9;". A billion "lol"s would be 3 GB.
    started = time.monotonic()
    try:
        parsed = parse_feed(billion_laughs(), source="feed", fetched_at=NOW)
    except ParseError:
        parsed = Parsed()
    assert time.monotonic() - started < 20
    assert all(len(item.text) < 100 for item in parsed.items), [len(i.text) for i in parsed.items]


def test_external_entities_are_not_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<rss version="2.0"><channel><title>t</title><item><title>a &x; b</title></item></channel></rss>'
    ).encode()
    try:
        parsed = parse_feed(doc, source="feed", fetched_at=NOW)
    except ParseError:
        return
    assert all("TOP-SECRET" not in item.text for item in parsed.items)


@pytest.fixture()
def server():  # type: ignore[no-untyped-def]
    with LoopbackServer() as s:
        yield s


def _fetcher() -> Fetcher:
    return Fetcher(user_agent="finsent-test/1")


def test_a_huge_response_is_refused_unread(server: LoopbackServer) -> None:
    server.routes["/huge"] = lambda r: Response(200, b"x" * (3 * 2**20), {"Content-Type": "application/json"})
    fetcher = _fetcher()
    try:
        with pytest.raises(FetchError, match="limit"):
            fetcher.get(server.url("/huge"), lambda b: b, policy=RetryPolicy(max_bytes=2**20, retries=0), robots=False)
    finally:
        fetcher.close()


def test_a_gzip_bomb_counts_at_its_real_size(server: LoopbackServer) -> None:
    bomb = gzip.compress(b"\0" * (50 * 2**20))  # 50 MB that travel as about 50 kB
    server.routes["/bomb"] = lambda r: Response(200, bomb, {"Content-Encoding": "gzip"})
    fetcher = _fetcher()
    try:
        with pytest.raises(FetchError, match="limit"):
            fetcher.get(server.url("/bomb"), lambda b: b, policy=RetryPolicy(max_bytes=2**20, retries=0), robots=False)
    finally:
        fetcher.close()


def _drip_server(stop: threading.Event) -> int:
    """A server that sends headers, then one byte every 0.2 s for ever (no read ever times out)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.2)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            try:
                while not stop.wait(0.2):
                    conn.sendall(b" ")
            except OSError:
                pass
            conn.close()
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return int(listener.getsockname()[1])


def test_a_slow_drip_response_ends_at_the_timeout() -> None:
    stop = threading.Event()
    port = _drip_server(stop)
    fetcher = _fetcher()
    started = time.monotonic()
    try:
        with pytest.raises(FetchError, match="timeout"):
            fetcher.get(f"http://127.0.0.1:{port}/", lambda b: b, policy=RetryPolicy(timeout_s=1.5, retries=0), robots=False)
    finally:
        stop.set()
        fetcher.close()
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/feed", "gopher://x/", "data:text/plain,hi", "/relative"])
def test_only_http_schemes_are_fetched(url: str) -> None:
    fetcher = _fetcher()
    try:
        with pytest.raises(FetchError, match="only http and https"):
            fetcher.get(url, lambda b: b, robots=False)
    finally:
        fetcher.close()


def test_a_redirect_to_another_scheme_is_not_followed(server: LoopbackServer) -> None:
    server.routes["/moved"] = lambda r: Response(302, b"", {"Location": "file:///etc/passwd"})
    fetcher = _fetcher()
    try:
        with pytest.raises(FetchError):
            fetcher.get(server.url("/moved"), lambda b: b, policy=RetryPolicy(retries=0), robots=False)
    finally:
        fetcher.close()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x/feed.xml", "javascript:alert(1)", " http://x/", "HTTP://x/"])
def test_the_sources_file_refuses_non_http_urls(url: str) -> None:
    with pytest.raises(ConfigError, match="url"):
        load_sources({"sources": [{"name": "s", "kind": "rss", "url": url}]}, env={})


def test_a_file_source_does_not_follow_links_out_of_its_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.jsonl").write_text('{"title": "private"}\n')
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "news.jsonl").write_text('{"title": "ok"}\n')
    os.symlink(outside / "private.jsonl", folder / "escape.jsonl")
    os.symlink(outside, folder / "escape-dir")
    assert [p.name for p in list_inputs(folder)] == ["news.jsonl"]


@pytest.mark.parametrize("source", ["../../etc/passwd", "/abs/path", "a/../../b", "x\x00y"])
def test_a_backfill_checkpoint_stays_in_its_folder_whatever_the_job_says(tmp_path: Path, source: str) -> None:
    from finsent.ingest.backfill import default_checkpoint_path

    path = default_checkpoint_path(tmp_path, {"path": source, "source": source})
    assert path.parent == tmp_path / "backfill" and path.resolve().is_relative_to(tmp_path.resolve())
