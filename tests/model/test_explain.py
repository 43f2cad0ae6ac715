"""Why this label: integrated-gradient attributions from the shipped model, and ``finsent explain``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from finsent.cli import app
from finsent.model.classifier import load
from finsent.model.explain import explain
from finsent.model.scoring import score_texts
from finsent.settings import default_model_path

HEADLINES = [
    ("Acme Corp stock plunges after quarterly loss doubles", {"plunges", "loss"}),
    ("Tata Motors shares plunge 12% after quarterly loss widens", {"plunge", "loss"}),
]


@pytest.fixture(scope="module")
def shipped():
    path = default_model_path()
    if not (path / "config.json").is_file():
        pytest.skip(f"no shipped model at {path}")
    return load(path, device="cpu", threads=1)


@pytest.mark.parametrize(("text", "negative_words"), HEADLINES)
def test_a_plainly_negative_headlines_negative_word_is_among_the_top_attributed(shipped, text, negative_words) -> None:
    explanation = explain(shipped, text)
    # The attributions are the shipped model's, for the label it gives when it scores the text.
    (prediction,) = score_texts(shipped, [text])
    assert explanation.model_version == shipped.version
    assert (explanation.label, explanation.probability) == (prediction.sentiment, pytest.approx(prediction.sentiment_score, abs=1e-4))
    assert explanation.label == "negative"
    top = [a.token.lower() for a in explanation.top(3)]
    assert negative_words & set(top), top
    # Spans point into the text the model read, and the shares add up to one.
    assert all(explanation.text[a.start : a.end] == a.token for a in explanation.tokens)
    assert sum(abs(a.score) for a in explanation.tokens) == pytest.approx(1.0, abs=1e-3)


def test_explain_prints_the_same_as_json(shipped) -> None:
    text = HEADLINES[0][0]
    result = CliRunner().invoke(app, ["explain", "--text", text, "--top", "3"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    direct = explain(shipped, text)
    assert out["model_version"] == shipped.version and out["label"] == direct.label
    assert out["top"] == [a.token for a in direct.top(3)]


def test_explain_a_stored_document_by_its_id(shipped, sqlite_url: str, monkeypatch) -> None:
    from datetime import datetime, timezone

    from finsent.db import make_engine, make_sessionmaker, session_scope
    from finsent.messages import ScoredMessage
    from finsent.store import write_scored

    doc = ScoredMessage(id="doc-1", source="wire", title=HEADLINES[1][0], published_at=datetime(2026, 11, 2, tzinfo=timezone.utc),
                        model_version="v1", sentiment="negative", sentiment_score=0.9)  # fmt: skip
    engine = make_engine(sqlite_url)
    with session_scope(make_sessionmaker(engine)) as s:
        write_scored(s, [doc])
    engine.dispose()
    monkeypatch.setenv("FINSENT_DATABASE_URL", sqlite_url)
    result = CliRunner().invoke(app, ["explain", "doc-1"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["document_id"] == "doc-1" and out["text"] == HEADLINES[1][0] and out["label"] == "negative"
    assert CliRunner().invoke(app, ["explain", "nope"]).exit_code != 0
