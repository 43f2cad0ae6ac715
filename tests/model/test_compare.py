"""``finsent compare-models``: two cards side by side, the verdict by the epoch-selection rule, release bars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from finsent.cli import app
from finsent.model.compare import BARS, Bar, bar_for, card_of, compare, format_comparison, judge
from finsent.model.metrics import selection_score

runner = CliRunner()


def _report(macro: float, weighted: float, positive_recall: float = 0.8) -> dict[str, Any]:
    return {
        "macro_f1": macro,
        "weighted_f1": weighted,
        "per_class": [{"label": "negative", "recall": 0.5}, {"label": "positive", "recall": positive_recall}],
    }


def _card(version: str, tweets: float, news: float, topic: float, *, test_news: float = 0.86, ece: float = 0.02) -> dict:
    return {
        "version": version,
        "evaluation": {
            "sentiment": _report(tweets, tweets + 0.01),
            "sentiment@sentfin-headlines": _report(news, news),
            "sentiment@news": _report(0.0, 0.0),  # pooled news: must not count twice in the verdict
            "topic": _report(topic, topic),
        },
        "test_evaluation": {"sentiment@news": _report(test_news, test_news, 0.9)},
        "calibration": {
            "sentiment": {
                "ece_after": {"validation:tfns-sentiment": ece, "validation:finentity": 0.07, "test:news": ece},
                "ece_floor_95": {"validation:tfns-sentiment": 0.02, "validation:finentity": 0.085, "test:news": 0.03},
            }
        },
    }


def test_selection_score_averages_each_heads_domains_then_the_heads_and_skips_pooled_news() -> None:
    score = selection_score({"sentiment": 0.8, "sentiment@finentity": 0.6, "sentiment@news": 0.0, "topic": 0.9})
    assert score == pytest.approx((0.7 + 0.9) / 2)
    assert selection_score({}) == 0.0


def test_the_verdict_reads_validation_only_even_when_showing_test() -> None:
    a = _card("a", tweets=0.85, news=0.86, topic=0.87, test_news=0.99)
    b = _card("b", tweets=0.86, news=0.87, topic=0.87, test_news=0.50)
    for split in ("validation", "test"):
        result = compare(a, b, split=split)
        assert result.b_better, split
        assert result.b_score == pytest.approx(((0.86 + 0.87) / 2 + 0.87) / 2)
    test_rows = {(r.key, r.metric): r for r in compare(a, b, split="test").rows}
    assert test_rows[("sentiment@news", "weighted_f1")].delta == pytest.approx(-0.49)
    assert ("topic", "macro_f1") not in test_rows  # topic has no test split
    with pytest.raises(ValueError, match="validation or test"):
        compare(a, b, split="train")


def test_rows_carry_both_values_the_delta_and_the_ece_floor() -> None:
    a = _card("a", 0.85, 0.86, 0.87, ece=0.04)
    b = _card("b", 0.88, 0.86, 0.89, ece=0.02)
    rows = {(r.key, r.metric): r for r in compare(a, b).rows}
    tweets = rows[("sentiment", "weighted_f1")]
    assert (tweets.a, tweets.b) == (pytest.approx(0.86), pytest.approx(0.89))
    assert tweets.delta == pytest.approx(0.03)
    assert rows[("sentiment", "positive_recall")].b == 0.8
    ece = rows[("sentiment validation:tfns-sentiment", "ece")]
    assert (ece.a, ece.b, ece.floor) == (0.04, 0.02, 0.02)
    assert ("sentiment test:news", "ece") not in rows  # test calibration only under split="test"


def test_bars_say_ok_no_or_not_measurable() -> None:
    tweets = Bar("sentiment", "weighted_f1", at_least=0.90)
    assert judge(tweets, 0.901) == "ok" and judge(tweets, 0.899) == "NO" and judge(tweets, None) == ""
    ece = next(b for b in BARS if b.metric == "ece")
    assert judge(ece, 0.02, floor=0.02) == "ok"
    assert judge(ece, 0.05, floor=0.02) == "NO"
    assert judge(ece, 0.05, floor=0.085) == "n/a"  # 112 texts cannot show 0.03
    rows = {(r.key, r.metric): r for r in compare(_card("a", 0.85, 0.86, 0.87), _card("b", 0.91, 0.86, 0.87)).rows}
    assert bar_for(rows[("sentiment", "weighted_f1")]) is not None
    assert bar_for(rows[("sentiment", "macro_f1")]) is None
    text = format_comparison(compare(_card("a", 0.85, 0.86, 0.87), _card("b", 0.91, 0.86, 0.87)))
    tweets_line = next(line for line in text.splitlines() if line.startswith("sentiment ") and "weighted_f1" in line)
    assert "0.8600 NO" in tweets_line and "0.9200 ok" in tweets_line and ">= 0.9" in tweets_line
    assert "n/a" in next(line for line in text.splitlines() if "validation:finentity" in line)
    assert text.rstrip().endswith("ship b")


def _checkpoint(tmp_path: Path, name: str, card: dict) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "finsent": card}), encoding="utf-8")
    return folder


def test_cli_table_json_and_require_better(tmp_path: Path) -> None:
    old = _checkpoint(tmp_path, "old", _card("finsent-minilm-2.0", 0.85, 0.86, 0.87))
    new = _checkpoint(tmp_path, "new", _card("finsent-minilm-2.1", 0.86, 0.87, 0.88))
    table = runner.invoke(app, ["compare-models", str(old), str(new)])
    assert table.exit_code == 0, table.output
    assert "a = finsent-minilm-2.0, b = finsent-minilm-2.1" in table.output and "ship b" in table.output
    as_json = runner.invoke(app, ["compare-models", str(old), str(new), "--json", "--split", "test"])
    payload = json.loads(as_json.stdout)
    assert payload["b_better"] is True and payload["split"] == "test"
    assert runner.invoke(app, ["compare-models", str(new), str(old), "--require-better"]).exit_code == 1
    assert runner.invoke(app, ["compare-models", str(old), str(new), "--require-better"]).exit_code == 0


def test_a_directory_without_a_card_is_a_clear_error(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    with pytest.raises(ValueError, match="no finsent card"):
        card_of(bare)
    result = runner.invoke(app, ["compare-models", str(bare), str(bare)])
    assert result.exit_code == 2 and "no finsent card" in result.output
    with pytest.raises(ValueError, match="not a checkpoint directory"):
        card_of(tmp_path)
