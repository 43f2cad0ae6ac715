"""One ticker extraction on every path: ``ingest replay``, ``backfill`` (files and rescore) and the worker."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from finsent.cli import app
from finsent.db import make_engine, make_sessionmaker
from finsent.ingest.backfill import BackfillOptions, backfill_files, rescore_documents
from finsent.messages import NewsMessage
from finsent.model.engine import load_engine
from finsent.settings import Settings, TickerSettings
from finsent.stories import StoryOptions
from finsent.stream.app import BatchProcessor
from finsent.stream.pipeline import RawRecord
from finsent.tables import Document, Score
from finsent.tickers import TickerMatcher
from tests.utils.kafka import consume, values
from tests.utils.tiny_model import build_tiny_checkpoint

WATCHLIST = {"TATAMOTORS": ["Tata Motors"], "MARUTI": ["Maruti", "Maruti Suzuki"], "A": ["Agilent"]}
ROWS = [
    {"source": "wire", "title": "Tata Motors gains as Maruti slips", "published_at": "2026-11-02T09:00:00Z"},
    {"source": "wire", "title": "$TSLA and a $5bn deal: for Infosys it is a big day", "published_at": "2026-11-02T09:01:00Z"},
    {"source": "wire", "title": "Markets are calm, A shares quiet", "published_at": "2026-11-02T09:02:00Z"},
]
# Cashtags, watchlist names, and the guards: '$5bn' is money, 'A' is too short to match bare.
EXPECTED = [["TATAMOTORS", "MARUTI"], ["TSLA"], []]


def test_mentions_say_how_the_text_names_each_ticker() -> None:
    matcher = TickerMatcher.from_settings(TickerSettings(watchlist=WATCHLIST))
    assert matcher.mentions("Maruti Suzuki rises; $TTM and Tata Motors too") == {
        "TTM": "$TTM", "MARUTI": "Maruti Suzuki", "TATAMOTORS": "Tata Motors",
    }  # fmt: skip
    assert [matcher.find(r["title"]) for r in ROWS] == EXPECTED
    wider = matcher.with_watchlist({"INFY": ["Infosys"]}, match_symbols=True)
    assert wider.find("Infosys and Maruti") == ["INFY", "MARUTI"]


@pytest.fixture(scope="module")
def tiny_engine(tmp_path_factory: pytest.TempPathFactory):
    """A tiny checkpoint with the entity head (as the lead's v2 has)."""
    import torch

    path = build_tiny_checkpoint(tmp_path_factory.mktemp("entity") / "tiny", entity=True)
    threads = torch.get_num_threads()
    yield load_engine(path, device="cpu", precision="fp32", warmup=False, threads=1)
    torch.set_num_threads(threads)


def _tickers(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        got = {d.title: list(d.tickers) for d in s.execute(select(Document)).scalars()}
    engine.dispose()
    return got


def test_backfill_files_and_rescore_find_the_tickers_the_worker_finds(db_url: str, tmp_path: Path, tiny_engine) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    factory = make_sessionmaker(make_engine(db_url))
    matcher = TickerMatcher(WATCHLIST)
    options = BackfillOptions(progress=False, matcher=matcher, stories=StoryOptions())
    backfill_files(tmp_path / "in", classifier=tiny_engine, factory=factory, database_url=db_url,
                   data_dir=tmp_path / "var", options=options)  # fmt: skip
    assert [_tickers(db_url)[r["title"]] for r in ROWS] == EXPECTED
    with factory() as s:
        per_ticker = s.execute(select(Score.ticker_sentiments).join(Document).where(Document.title == ROWS[0]["title"])).scalar_one()
    assert set(per_ticker) == {"TATAMOTORS", "MARUTI"}
    assert {v["method"] for v in per_ticker.values()} == {"entity"}  # the tiny model has the entity head

    # History stored before the watchlist named Infosys gets it on a rescore, as streamed text would.
    wider = matcher.with_watchlist({"INFY": ["Infosys"]}, match_symbols=True)
    rescore_documents(classifier=tiny_engine, factory=factory, database_url=db_url, data_dir=tmp_path / "var2",
                      options=BackfillOptions(progress=False, matcher=wider, stories=StoryOptions()))  # fmt: skip
    assert _tickers(db_url)[ROWS[1]["title"]] == ["TSLA", "INFY"]


def test_replay_adds_the_configured_watchlists_tickers(settings: Settings, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    monkeypatch.setenv("FINSENT_KAFKA_BOOTSTRAP", settings.kafka.bootstrap or "")
    monkeypatch.setenv("FINSENT_KAFKA_RAW_TOPIC", settings.kafka.raw_topic)
    monkeypatch.setenv("FINSENT_TICKERS_WATCHLIST", json.dumps(WATCHLIST))
    result = CliRunner().invoke(app, ["ingest", "replay", str(tmp_path / "a.jsonl")])
    assert result.exit_code == 0, result.output
    sent = values(consume(settings.kafka.bootstrap or "", settings.kafka.raw_topic, expect=3))
    assert sorted((m["title"], m["tickers"]) for m in sent) == sorted((r["title"], e) for r, e in zip(ROWS, EXPECTED))


def test_the_worker_finds_them_in_raw_messages_and_scores_each_ticker(tiny_engine, sqlite_url: str) -> None:
    settings = Settings(tickers=TickerSettings(watchlist=WATCHLIST), database={"url": sqlite_url})
    processor = BatchProcessor(settings, tiny_engine, make_sessionmaker(make_engine(sqlite_url)), None, None)
    records = [
        RawRecord(value=NewsMessage.model_validate(r).model_dump_json().encode(), topic="raw", partition=0, offset=i)
        for i, r in enumerate(ROWS)
    ]
    prepared = asyncio.run(processor.prepare(records))
    assert [m.tickers for m in prepared.scored] == EXPECTED
    first = prepared.scored[0]
    assert set(first.ticker_sentiments) == {"TATAMOTORS", "MARUTI"}
    assert all(v["sentiment"] in ("negative", "neutral", "positive") for v in first.ticker_sentiments.values())
    assert {v["method"] for v in first.ticker_sentiments.values()} == {"entity"}
    assert processor.stories == StoryOptions()  # stories are counted by default
    assert datetime.now(timezone.utc) >= first.scored_at


def test_without_the_entity_head_each_ticker_gets_the_sentence_sentiment_recorded_as_such(
    tiny_model_path: Path, sqlite_url: str
) -> None:
    plain = load_engine(tiny_model_path, device="cpu", precision="fp32", warmup=False, threads=1)
    settings = Settings(tickers=TickerSettings(watchlist=WATCHLIST), database={"url": sqlite_url})
    processor = BatchProcessor(settings, plain, make_sessionmaker(make_engine(sqlite_url)), None, None)
    raw = NewsMessage.model_validate(ROWS[0]).model_dump_json().encode()
    (first,) = asyncio.run(processor.prepare([RawRecord(value=raw, topic="raw", partition=0, offset=0)])).scored
    assert first.ticker_sentiments == {
        t: {"sentiment": first.sentiment, "score": round(first.sentiment_score, 6), "method": "sentence"}
        for t in ("TATAMOTORS", "MARUTI")
    }
