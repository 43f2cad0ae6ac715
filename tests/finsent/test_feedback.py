"""Analyst corrections: stored with who, when and the model version, rated per version, exported for training."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finsent.cli import app
from finsent.db import make_engine, make_sessionmaker, session_scope
from finsent.feedback import corrections_for, disagreement_rates, export_corrections, record_correction
from finsent.messages import ScoredMessage
from finsent.store import write_scored
from finsent.tickers import TickerMatcher

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
TEXT = "Tata Motors gains as Maruti slips"


def seed(url: str, version: str = "v1") -> None:
    items = [
        ScoredMessage(
            id="two", source="et", title=TEXT, published_at=T0, tickers=["TATAMOTORS", "MARUTI"], model_version=version,
            sentiment="neutral", sentiment_score=0.6, topic="Earnings",
            ticker_sentiments={"TATAMOTORS": {"sentiment": "positive", "score": 0.8, "method": "entity"}},
        ),
        ScoredMessage(
            id="one", source="et", title="Infosys profit falls 20%", published_at=T0 + timedelta(minutes=1),
            tickers=["INFY"], model_version=version, sentiment="negative", sentiment_score=0.9, topic="Earnings",
        ),
    ]  # fmt: skip
    engine = make_engine(url)
    with session_scope(make_sessionmaker(engine)) as s:
        write_scored(s, items)
    engine.dispose()


def test_corrections_are_stored_beside_the_models_label_and_rated_per_version(db_url: str, tmp_path: Path) -> None:
    seed(db_url)
    seed(db_url, version="v2")
    factory = make_sessionmaker(make_engine(db_url))
    with session_scope(factory) as s:
        first = record_correction(s, document_id="two", model_version="v1", field="sentiment", label="positive",
                                  actor="asha", reason="Tata is the subject", now=T0 + timedelta(hours=1))  # fmt: skip
        record_correction(s, document_id="two", model_version="v1", field="ticker", ticker="MARUTI", label="negative",
                          actor="asha", reason="Maruti slips", now=T0 + timedelta(hours=2))  # fmt: skip
        record_correction(s, document_id="one", model_version="v1", field="sentiment", label="negative", actor="li")
        record_correction(s, document_id="one", model_version="v2", field="topic", label="Macro", actor="li")
    assert first.model_label == "neutral" and first.disagrees
    with factory() as s:
        shown = corrections_for(s, ["two"])
        rates = {d.model_version: (d.reviewed, d.corrected) for d in disagreement_rates(s)}
    assert [(c.field, c.ticker, c.model_label, c.label, c.actor) for c in shown] == [
        ("ticker", "MARUTI", "neutral", "negative", "asha"),  # no own sentiment stored: the text's stood in
        ("sentiment", None, "neutral", "positive", "asha"),
    ]
    assert rates == {"v1": (3, 2), "v2": (1, 1)}  # the confirmation counts as reviewed, not corrected

    with factory() as s:
        written = export_corrections(s, tmp_path / "feedback", model_version="v1",
                                     mentions=TickerMatcher({"MARUTI": ["Maruti"]}).mentions)  # fmt: skip
    assert written == {"sentiment.csv": 2, "topic.csv": 0, "entity_level.csv": 1}
    with (tmp_path / "feedback" / "entity_level.csv").open() as fh:
        assert list(csv.DictReader(fh)) == [{"text": TEXT, "entity": "Maruti", "label": "negative"}]


def test_impossible_corrections_are_refused(sqlite_url: str) -> None:
    seed(sqlite_url)
    factory = make_sessionmaker(make_engine(sqlite_url))
    with factory() as s:
        with pytest.raises(ValueError, match="sentiment"):
            record_correction(s, document_id="one", model_version="v1", field="sentiment", label="bullish", actor="li")
        with pytest.raises(ValueError, match="ticker"):
            record_correction(s, document_id="one", model_version="v1", field="ticker", ticker="TSLA", label="negative", actor="li")
        with pytest.raises(ValueError, match="who"):
            record_correction(s, document_id="one", model_version="v1", field="sentiment", label="neutral", actor=" ")
        with pytest.raises(LookupError):
            record_correction(s, document_id="one", model_version="v9", field="sentiment", label="neutral", actor="li")


def test_feedback_export_command_writes_the_training_files(sqlite_url: str, tmp_path: Path, monkeypatch) -> None:
    seed(sqlite_url)
    with session_scope(make_sessionmaker(make_engine(sqlite_url))) as s:
        record_correction(s, document_id="one", model_version="v1", field="sentiment", label="neutral", actor="li")
    monkeypatch.setenv("FINSENT_DATABASE_URL", sqlite_url)
    result = CliRunner().invoke(app, ["feedback", "export", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "sentiment.csv: 1 rows" in result.output
    with (tmp_path / "out" / "sentiment.csv").open() as fh:
        assert list(csv.DictReader(fh)) == [{"text": "Infosys profit falls 20%", "label": "neutral"}]
