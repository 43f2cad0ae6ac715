"""Reading labeled files, label mapping, text normalisation and the validation dedup."""

from __future__ import annotations

from pathlib import Path

import pytest

from finsent.model.data import Example, dedup_against, dedup_key, model_input_text, read_examples
from finsent.model.labels import TOPIC_LABELS
from tests.utils.files import write_jsonl


def test_dedup_key_ignores_links_case_and_spacing() -> None:
    a = "Fed holds rates  https://t.co/AAA"
    b = "fed holds rates https://t.co/BBB\r\n"
    assert dedup_key(a) == dedup_key(b) == "fed holds rates"
    assert dedup_key("Fed cuts rates") != dedup_key(a)


def test_normalize_text_drops_urls_and_decodes_entities() -> None:
    assert model_input_text("S&amp;P 500 up\n\n1%  https://t.co/x www.cnbc.com/a") == "S&P 500 up 1%"
    assert model_input_text("Apple beats") == "Apple beats"


def test_read_csv_maps_bearish_bullish_onto_finsent_labels(tmp_path: Path) -> None:
    f = tmp_path / "s.csv"
    f.write_text('text,label\n"a\nb",Bearish\nc,Bullish\nd,Neutral\n', encoding="utf-8")
    examples = read_examples(f, "sentiment")
    assert examples == [Example("a\nb", 0), Example("c", 2), Example("d", 1)]  # negative, positive, neutral


def test_read_jsonl_topics_by_name_and_by_index(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "t.jsonl", [{"text": "x", "label": "IPO"}, {"text": "y", "label": 5}])
    assert [e.label for e in read_examples(f, "topic")] == [TOPIC_LABELS.index("IPO"), 5]


def test_unknown_label_and_missing_column_are_errors(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("text,label\nx,Sideways\n", encoding="utf-8")
    with pytest.raises(ValueError, match="Sideways"):
        read_examples(f, "sentiment")
    g = tmp_path / "nocol.csv"
    g.write_text("body,label\nx,Bullish\n", encoding="utf-8")
    with pytest.raises(ValueError, match="needs 'text'"):
        read_examples(g, "sentiment")


def test_dedup_against_drops_only_rows_seen_in_train() -> None:
    train = [Example("Oil jumps 3% https://t.co/1", 2), Example("Gold slips", 0)]
    val = [Example("OIL jumps 3%  https://t.co/2", 2), Example("Oil jumps 4%", 2), Example("gold slips!", 0)]
    assert dedup_against(val, train) == [val[1], val[2]]
    assert dedup_against(val, ["oil JUMPS 3%"]) == [val[1], val[2]]
