"""``finsent classify`` on JSONL and CSV files and stdin: scores added, other fields passed through."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finsent.cli import app
from finsent.messages import SENTIMENT_LABELS
from finsent.model.labels import TOPIC_LABELS
from tests.utils.files import write_jsonl

runner = CliRunner()


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_classify_jsonl_file_keeps_other_fields(tiny_model_path: Path, tmp_path: Path) -> None:
    src = write_jsonl(
        tmp_path / "in.jsonl",
        [{"id": 1, "text": "Tesla jumps 10%", "source": "x"}, {"id": 2, "text": "Fed minutes 📉 ünïcode"}],
    )
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app, ["classify", str(src), "--model", str(tiny_model_path), "-o", str(out), "--precision", "fp32"]
    )
    assert result.exit_code == 0, result.output
    rows = _lines(out.read_text())
    assert [r["id"] for r in rows] == [1, 2] and rows[0]["source"] == "x"
    for r in rows:
        assert r["sentiment"] in SENTIMENT_LABELS and r["topic"] in TOPIC_LABELS
        assert 0 < r["sentiment_score"] <= 1 and 0 < r["topic_score"] <= 1
        assert "probabilities" not in r


def test_classify_csv_from_stdin_with_probabilities(tiny_model_path: Path) -> None:
    csv_text = 'id,text\n7,"Oil slides, OPEC meets"\n8,Gold at record\n'
    result = runner.invoke(
        app, ["classify", "-", "--model", str(tiny_model_path), "--probabilities"], input=csv_text
    )
    assert result.exit_code == 0, result.output
    rows = _lines(result.stdout)
    assert [r["id"] for r in rows] == ["7", "8"]
    probs = rows[0]["probabilities"]
    assert set(probs["sentiment"]) == set(SENTIMENT_LABELS) and len(probs["topic"]) == 20
    assert sum(probs["sentiment"].values()) == pytest.approx(1.0, abs=1e-4)
    assert rows[0]["sentiment_score"] == pytest.approx(max(probs["sentiment"].values()), abs=1e-5)


def test_classify_csv_file_and_jsonl_stdin_agree(tiny_model_path: Path, tmp_path: Path) -> None:
    texts = ["Apple cuts guidance", "Dividend raised by 5%"]
    src = tmp_path / "in.csv"
    src.write_text("text\n" + "\n".join(texts) + "\n", encoding="utf-8")
    a = runner.invoke(app, ["classify", str(src), "--model", str(tiny_model_path)])
    b = runner.invoke(
        app,
        ["classify", "--model", str(tiny_model_path)],
        input="".join(json.dumps({"text": t}) + "\n" for t in texts),
    )
    assert a.exit_code == b.exit_code == 0
    assert _lines(a.stdout) == _lines(b.stdout)


def test_classify_rejects_input_without_text(tiny_model_path: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("body\nhello\n", encoding="utf-8")
    result = runner.invoke(app, ["classify", str(src), "--model", str(tiny_model_path)])
    assert result.exit_code == 2 and "no 'text' column" in result.output
    src2 = write_jsonl(tmp_path / "in.jsonl", [{"text": "a"}, {"body": "b"}])
    result = runner.invoke(app, ["classify", str(src2), "--model", str(tiny_model_path)])
    assert result.exit_code == 2 and "record 2" in result.output


def test_a_comment_record_is_scored_with_the_comment_temperature(tmp_path: Path) -> None:
    from tests.utils.tiny_model import build_tiny_checkpoint

    # Power 4 (folded T 1.0, comment T 0.25): a comment's top probability is visibly sharper.
    calibration = {"sentiment": {"temperature": 1.0, "kind_temperatures": {"comment": 0.25}, "folded": True}}
    model = build_tiny_checkpoint(tmp_path / "tiny", extra={"calibration": calibration})
    text = "Tesla jumps 10%"
    src = write_jsonl(
        tmp_path / "in.jsonl", [{"text": text}, {"text": text, "kind": "news"}, {"text": text, "kind": "comment"}]
    )
    result = runner.invoke(app, ["classify", str(src), "--model", str(model), "--precision", "fp32", "--probabilities"])
    assert result.exit_code == 0, result.output
    plain, news, comment = _lines(result.stdout)
    assert plain["sentiment_score"] == news["sentiment_score"] and comment["sentiment"] == news["sentiment"]
    probs = list(news["probabilities"]["sentiment"].values())
    want = max(p**4 for p in probs) / sum(p**4 for p in probs)
    assert comment["sentiment_score"] == pytest.approx(want, abs=1e-5) and comment["sentiment_score"] > news["sentiment_score"]
    assert comment["topic_score"] == news["topic_score"]  # the topic head has no comment temperature
