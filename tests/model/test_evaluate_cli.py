"""``finsent evaluate``: text and JSON reports, and the dedup against a training file."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from finsent.cli import app
from finsent.model.classifier import load

runner = CliRunner()


def test_evaluate_json_matches_the_models_own_predictions(tiny_model_path: Path, tmp_path: Path) -> None:
    val = tmp_path / "val.csv"
    val.write_text(
        "text,label\nApple beats https://t.co/a,Bullish\nFord misses,Bearish\n"
        "GM says,Neutral\nIntel slips,Bearish\n",
        encoding="utf-8",
    )
    train = tmp_path / "train.csv"
    train.write_text("text,label\napple BEATS https://t.co/zzz,Bullish\n", encoding="utf-8")
    result = runner.invoke(
        app,
        ["evaluate", str(val), "--model", str(tiny_model_path), "--dedup-against", str(train), "--json", "-"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 3 and report["dropped_as_duplicates"] == 1
    predicted = [
        p.sentiment
        for p in load(tiny_model_path, device="cpu").predict(["Ford misses", "GM says", "Intel slips"])
    ]
    truth = ["negative", "neutral", "negative"]
    assert report["accuracy"] == sum(p == t for p, t in zip(predicted, truth)) / 3
    assert sum(map(sum, report["confusion"])) == 3


def test_evaluate_text_report(tiny_model_path: Path, tmp_path: Path) -> None:
    val = tmp_path / "val.jsonl"
    val.write_text('{"text": "Fed hikes", "label": "Fed | Central Banks"}\n', encoding="utf-8")
    out = tmp_path / "r.json"
    result = runner.invoke(
        app, ["evaluate", str(val), "--task", "topic", "--model", str(tiny_model_path), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "macro F1" in result.output and "confusion" in result.output
    assert json.loads(out.read_text())["task"] == "topic"
