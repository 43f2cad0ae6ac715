"""Pure parsing: feeds, JSON mappings, comment listings, times, tickers, dedup keys, files, config."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finsent.ingest.config import load_sources
from finsent.ingest.dedup import canonical_url, dedup_keys
from finsent.ingest.errors import ConfigError, ParseError
from finsent.ingest.sources.base import get_path, parse_time, strip_html
from finsent.ingest.sources.comments import parse_reddit_listing, parse_stocktwits
from finsent.ingest.sources.files import count_rows, iter_file_rows, list_inputs, to_message
from finsent.ingest.sources.json_api import parse_json_api
from finsent.ingest.sources.rss import parse_feed
from finsent.tickers import TickerMatcher, cashtags
from finsent.messages import NewsMessage
from tests.utils import feeds

NOW = datetime(2025, 3, 4, tzinfo=UTC)


def test_rss_items_become_messages_with_feed_times() -> None:
    body = feeds.rss(
        [
            ("Tesla recalls cars", "<p>Big &amp; bad</p>", "https://ex.com/a"),
            ("Fed holds", "", "https://ex.com/b"),
        ]
    )
    parsed = parse_feed(body, source="wire", fetched_at=NOW)
    assert [m.title for m in parsed.items] == ["Tesla recalls cars", "Fed holds"]
    assert parsed.items[0].body == "Big & bad"
    assert parsed.items[0].published_at == feeds.BASE_TIME
    assert parsed.items[1].url == "https://ex.com/b" and parsed.items[1].source == "wire"


def test_atom_feed() -> None:
    parsed = parse_feed(
        feeds.atom([("Oil slumps", "Crude falls", "https://ex.com/oil")]), source="a", fetched_at=NOW
    )
    assert parsed.items[0].title == "Oil slumps" and parsed.items[0].url == "https://ex.com/oil"


@pytest.mark.parametrize(
    "body", [b"this is { not xml", b"<rss><channel><item><title>cut off", b"<html><p>hi</p></html>"]
)
def test_broken_feeds_raise_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_feed(body, source="x", fetched_at=NOW)


def test_json_api_mapping_with_nested_paths_and_projection() -> None:
    doc = feeds.news_api(
        [
            {
                "headline": "Apple beats",
                "summary": {"text": "Record quarter"},
                "link": "/a/1",
                "ts": 1_700_000_000,
                "syms": [{"s": "AAPL"}],
            },
            {"headline": "", "summary": {"text": ""}, "link": "/a/2", "ts": "2025-01-01T00:00:00Z"},
        ]
    )
    parsed = parse_json_api(
        doc,
        source="api",
        items_path="data.articles",
        mapping={
            "title": "headline",
            "body": "summary.text",
            "url": "link",
            "published_at": "ts",
            "tickers": "syms[].s",
        },
        fetched_at=NOW,
        url_prefix="https://api.example",
    )
    assert len(parsed.items) == 1 and len(parsed.rejected) == 1
    item = parsed.items[0]
    assert (item.title, item.body, item.url, item.tickers) == (
        "Apple beats",
        "Record quarter",
        "https://api.example/a/1",
        ["AAPL"],
    )
    assert item.published_at == datetime.fromtimestamp(1_700_000_000, UTC)


def test_json_api_broken_or_wrong_shape() -> None:
    with pytest.raises(ParseError, match="broken JSON"):
        parse_json_api(b'{"data": [', source="a", items_path="data", mapping={"title": "t"}, fetched_at=NOW)
    with pytest.raises(ParseError, match="expected a list"):
        parse_json_api(b'{"data": {}}', source="a", items_path="data", mapping={"title": "t"}, fetched_at=NOW)


def test_reddit_listing() -> None:
    parsed = parse_reddit_listing(
        feeds.reddit([("p1", "TSLA puts?", "thinking about it"), ("p2", "", "[deleted]")]),
        source="wsb",
        fetched_at=NOW,
    )
    assert len(parsed.items) == 1 and parsed.rejected
    item = parsed.items[0]
    assert item.kind == "comment" and item.url == "https://www.reddit.com/r/stocks/comments/p1/x/"
    assert item.published_at == feeds.BASE_TIME
    with pytest.raises(ParseError):
        parse_reddit_listing(b'{"error": 429}', source="wsb", fetched_at=NOW)


def test_stocktwits_stream() -> None:
    parsed = parse_stocktwits(
        feeds.stocktwits([(11, "$AAPL breaking out", ["AAPL"])]), source="st", fetched_at=NOW
    )
    item = parsed.items[0]
    assert item.tickers == ["AAPL"] and item.body == "$AAPL breaking out" and item.kind == "comment"
    assert item.url == "https://stocktwits.com/trader4/message/11"
    with pytest.raises(ParseError, match="not a message stream"):
        parse_stocktwits(b'{"errors": [{"message": "rate limit"}]}', source="st", fetched_at=NOW)


def test_time_parsing() -> None:
    expected = datetime(2025, 1, 6, 14, 30, tzinfo=UTC)
    for value in (
        "2025-01-06T14:30:00Z",
        "Mon, 06 Jan 2025 14:30:00 GMT",
        expected.timestamp(),
        expected.timestamp() * 1000,
        "2025-01-06T15:30:00+01:00",
    ):
        assert parse_time(value) == expected, value
    assert parse_time("yesterday") is None and parse_time(None) is None


def test_helpers() -> None:
    assert strip_html("<b>A</b>&nbsp;&amp; <i>B</i>") == "A & B"
    assert get_path({"a": [{"b": 1}, {"b": 2}, {}]}, "a[].b") == [1, 2]
    assert get_path({"a": [10, 20]}, "a.1") == 20 and get_path({"a": 1}, "a.b") is None


def test_cashtags_and_watchlist() -> None:
    assert cashtags("Buying $tsla and $BRK.B, not $5bn or US$") == ["TSLA", "BRK.B"]
    matcher = TickerMatcher(
        {"AAPL": ["Apple", "Apple Inc"], "BAC": ["Bank of America"], "GS": ["Goldman Sachs"]}
    )
    assert matcher.find("Apple and Bank of America rally; $NVDA too") == ["NVDA", "AAPL", "BAC"]
    assert matcher.find("GS upgrades; gs is lower-case prose; pineapple") == ["GS"]
    message = NewsMessage(source="s", title="Goldman Sachs cuts Apple", published_at=NOW, tickers=["MSFT"])
    assert matcher.enrich(message).tickers == ["MSFT", "GS", "AAPL"]  # order of appearance


def test_canonical_url_and_dedup_keys() -> None:
    assert canonical_url("HTTPS://Ex.com:443/a/b/?utm_source=x&z=1&a=2#frag") == "https://ex.com/a/b?a=2&z=1"
    one = NewsMessage(source="s", title="Same  Text", url="https://ex.com/a?utm_medium=rss", published_at=NOW)
    two = NewsMessage(source="s", title="same text", url="https://ex.com/b", published_at=NOW)
    three = NewsMessage(source="other", title="same text", published_at=NOW)
    assert dedup_keys(one)[0] == "url:https://ex.com/a"
    assert dedup_keys(one)[1] == dedup_keys(two)[1]  # same normalised text, same source
    assert dedup_keys(three)[0] != dedup_keys(two)[1]  # another source may say the same thing


def test_files_jsonl_csv_parquet_gz(tmp_path: Path) -> None:
    rows = [{"title": f"t{i}", "source": "f", "published_at": "2025-01-01T00:00:00Z"} for i in range(5)]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n\nnot json\n")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as fh:
        fh.write(json.dumps(rows[2]) + "\n")
    (tmp_path / "c.csv").write_text("headline,date,symbols,url\nApple up,2025-01-01T00:00:00Z,AAPL;MSFT,\n")
    pq.write_table(pa.Table.from_pylist(rows[3:]), tmp_path / "d.parquet", row_group_size=1)
    (tmp_path / "ignored.txt").write_text("x")
    files = list_inputs(tmp_path)
    assert [f.name for f in files] == ["a.jsonl", "b.jsonl.gz", "c.csv", "d.parquet"]
    assert [count_rows(f) for f in files] == [3, 1, 1, 2]
    jsonl = list(iter_file_rows(files[0]))
    assert [r.index for r in jsonl] == [0, 1, 2] and jsonl[2].error and jsonl[2].raw == b"not json"
    assert [r.index for r in iter_file_rows(files[0], skip=2)] == [2]
    assert [r.data["title"] for r in iter_file_rows(files[3], skip=1)] == ["t4"]
    csv_message = to_message(next(iter_file_rows(files[2])).data, default_source="csv")
    assert (csv_message.title, csv_message.tickers, csv_message.url, csv_message.source) == (
        "Apple up",
        ["AAPL", "MSFT"],
        None,
        "csv",
    )
    mapped = to_message(
        {"h": "Hello", "when": 1_700_000_000},
        default_source="x",
        fields={"title": "h", "published_at": "when"},
    )
    assert mapped.title == "Hello"
    with pytest.raises(ValueError):
        to_message({"title": "no time"}, default_source="x")


def test_sources_config_env_secrets_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(
        """
[watchlist]
AAPL = ["Apple"]

[[sources]]
name = "api"
kind = "json_api"
url = "https://api.example/v1/news"
headers = { Authorization = "Bearer ${NEWS_TOKEN}" }
items = "data"
mapping = { title = "headline", url = "link" }
"""
    )
    config = load_sources(path, env={"NEWS_TOKEN": "s3cret"})
    source = config.sources[0]
    assert source.headers["Authorization"].get_secret_value() == "Bearer s3cret"
    assert "s3cret" not in repr(config) and "s3cret" not in str(config.model_dump())
    with pytest.raises(ConfigError, match="NEWS_TOKEN"):
        load_sources(path, env={})
    with pytest.raises(ConfigError, match="unique"):
        load_sources({"sources": [{"name": "a", "kind": "simulator"}, {"name": "a", "kind": "simulator"}]})
    with pytest.raises(ConfigError, match="mapping"):
        load_sources(
            {"sources": [{"name": "a", "kind": "json_api", "url": "http://x/", "mapping": {"headline": "h"}}]}
        )
    yaml_path = tmp_path / "s.yaml"
    yaml_path.write_text(
        "sources:\n  - {name: wsb, kind: reddit, url: 'https://www.reddit.com/r/stocks/new.json'}\n"
    )
    assert load_sources(yaml_path).sources[0].kind == "reddit"


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "sources.example.toml"
    config = load_sources(example, env={"NEWSAPI_KEY": "x", "STOCKTWITS_TOKEN": "y"})
    assert {s.kind for s in config.sources} >= {
        "rss",
        "json_api",
        "reddit",
        "stocktwits",
        "file",
        "simulator",
    }
