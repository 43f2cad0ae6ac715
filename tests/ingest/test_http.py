"""The polite fetcher against real loopback servers: validators, retries, timeouts, robots.txt, rate limits."""

from __future__ import annotations

import threading
import time

import pytest

from finsent.ingest.errors import FetchError, HTTPError, ParseError, RobotsDisallowed, Stopped
from finsent.ingest.http import Fetcher, HostRateLimiter, RetryPolicy
from finsent.ingest.sources.json_api import load_json
from tests.utils.http_server import Document, LoopbackServer, Response, hanging, sequence

FAST = RetryPolicy(timeout_s=0.5, retries=2, backoff_s=0.02, backoff_max_s=0.1)


@pytest.fixture()
def server():
    with LoopbackServer() as s:
        yield s


@pytest.fixture()
def fetcher():
    f = Fetcher(user_agent="finsent-test/1.0 (+https://example.invalid)", limiter=HostRateLimiter(0.0))
    yield f
    f.close()


def test_conditional_get_sends_validators_and_takes_304(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/feed"] = Document(b'{"a": 1}', "application/json")
    first = fetcher.get(server.url("/feed"), load_json, policy=FAST)
    assert first.value == {"a": 1} and first.etag == '"v1"' and first.last_modified
    second = fetcher.get(
        server.url("/feed"), load_json, policy=FAST, validators=(first.etag, first.last_modified)
    )
    assert second.not_modified and second.value is None and second.status == 304
    hit = server.hits("/feed")[1]
    assert hit.headers["if-none-match"] == '"v1"' and hit.headers["if-modified-since"] == first.last_modified
    assert hit.headers["user-agent"].startswith("finsent-test/1.0")
    # Last-Modified alone also works (servers without ETags).
    third = fetcher.get(server.url("/feed"), load_json, policy=FAST, validators=(None, first.last_modified))
    assert third.not_modified


def test_500s_are_retried_with_backoff_then_succeed(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/flaky"] = sequence(Response(500, b"oops"), Response(503, b"busy"), Response(200, b"[1]"))
    result = fetcher.get(server.url("/flaky"), load_json, policy=FAST)
    assert result.value == [1] and result.attempts == 3 and len(server.hits("/flaky")) == 3


def test_persistent_500_gives_up_after_retries(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/down"] = sequence(Response(500, b"oops"))
    with pytest.raises(HTTPError) as info:
        fetcher.get(server.url("/down"), load_json, policy=FAST)
    assert info.value.status == 500 and info.value.attempts == 3 and len(server.hits("/down")) == 3


def test_404_is_not_retried(server: LoopbackServer, fetcher: Fetcher) -> None:
    with pytest.raises(HTTPError) as info:
        fetcher.get(server.url("/missing"), load_json, policy=FAST)
    assert info.value.status == 404 and len(server.hits("/missing")) == 1


def test_hanging_server_times_out_and_is_retried(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/hang"] = hanging(server)
    policy = RetryPolicy(timeout_s=0.2, retries=1, backoff_s=0.01, backoff_max_s=0.02)
    started = time.monotonic()
    with pytest.raises(FetchError, match="timeout") as info:
        fetcher.get(server.url("/hang"), load_json, policy=policy)
    assert time.monotonic() - started < 3 and info.value.attempts == 2


def test_broken_body_is_retried_then_reported(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/broken"] = sequence(Response(200, b'{"items": ['), Response(200, b'{"ok": true}'))
    assert fetcher.get(server.url("/broken"), load_json, policy=FAST).value == {"ok": True}
    server.routes["/always-broken"] = sequence(Response(200, b"<<<"))
    with pytest.raises(ParseError) as info:
        fetcher.get(server.url("/always-broken"), load_json, policy=FAST)
    assert info.value.attempts == 3


def test_robots_txt_is_respected(server: LoopbackServer, fetcher: Fetcher) -> None:
    server.routes["/robots.txt"] = lambda _: Response(
        200, b"User-agent: finsent-test\nDisallow: /private/\n\nUser-agent: *\nDisallow:\n"
    )
    server.routes["/private/feed"] = lambda _: Response(200, b"[]")
    server.routes["/public/feed"] = lambda _: Response(200, b"[]")
    with pytest.raises(RobotsDisallowed):
        fetcher.get(server.url("/private/feed"), load_json, policy=FAST)
    assert not server.hits("/private/feed")
    assert fetcher.get(server.url("/public/feed"), load_json, policy=FAST).value == []
    assert fetcher.get(server.url("/private/feed"), load_json, policy=FAST, robots=False).value == []
    assert len(server.hits("/robots.txt")) == 1  # cached per host


def test_per_host_rate_limit_spaces_requests(server: LoopbackServer) -> None:
    server.routes["/a"] = lambda _: Response(200, b"[]")
    fetcher = Fetcher(user_agent="finsent-test/1.0", limiter=HostRateLimiter(0.25))
    try:
        threads = [
            threading.Thread(
                target=fetcher.get,
                args=(server.url("/a"), load_json),
                kwargs={"policy": FAST, "robots": False},
            )
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        fetcher.close()
    times = sorted(r.at for r in server.hits("/a"))
    assert len(times) == 4
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.2


def test_stop_cuts_backoff_short(server: LoopbackServer) -> None:
    server.routes["/down"] = sequence(Response(503, b""))
    stop = threading.Event()
    fetcher = Fetcher(user_agent="finsent-test/1.0", limiter=HostRateLimiter(0.0), stop=stop)
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Stopped):
        fetcher.get(
            server.url("/down"),
            load_json,
            policy=RetryPolicy(timeout_s=1, retries=5, backoff_s=10, backoff_max_s=10),
            robots=False,
        )
    assert time.monotonic() - started < 2
    fetcher.close()
