"""The shipped model meets the issue's bar on the deduplicated validation sets, as its card says.

Recomputed here from the data in ``../shared/data`` (skipped where that folder is absent, and failed
when it is absent under CI, where a skip would hide it), with the engine finsent runs by default, so
a retrained or re-exported checkpoint cannot drift from its card.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from finsent.model.classifier import load
from finsent.model.engine import agreement, load_engine
from finsent.model.evaluate import evaluate_file
from finsent.settings import default_model_path

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TRAIN = [DATA / "tfns-sentiment" / "train.csv", DATA / "tfn-topic" / "train.csv"]
VALIDATION = {"sentiment": DATA / "tfns-sentiment" / "validation.csv", "topic": DATA / "tfn-topic" / "validation.csv"}



@pytest.fixture(scope="module", autouse=True)
def _evaluation_data() -> None:
    """Skip without the data, except under CI (the CI variable set), where the data must be there."""
    if all(p.is_file() for p in [*TRAIN, *VALIDATION.values()]):
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and the evaluation data is missing from {DATA}", pytrace=False)
    pytest.skip(f"no data in {DATA}")


@pytest.fixture(scope="module")
def reference():
    return load(default_model_path(), device="cpu")


def test_the_shipped_model_meets_the_bar_and_matches_its_card(reference) -> None:
    card = json.loads((default_model_path() / "eval_results.json").read_text())
    sentiment, dropped = evaluate_file(reference, VALIDATION["sentiment"], "sentiment", dedup_against_files=TRAIN)
    topic, _ = evaluate_file(reference, VALIDATION["topic"], "topic", dedup_against_files=TRAIN)
    assert dropped > 0 and sentiment.n == card["sentiment"]["n"]
    assert sentiment.weighted_f1 >= 0.88  # FinBERT 0.733, GPT-4 0.808 on the same benchmark
    assert topic.macro_f1 >= 0.85
    # The card was computed at the training length (64 tokens), this at the serving length (128):
    # a handful of long texts may change label.
    assert sentiment.weighted_f1 == pytest.approx(card["sentiment"]["weighted_f1"], abs=2e-3)
    assert topic.macro_f1 == pytest.approx(card["topic"]["macro_f1"], abs=2e-3)


def test_the_default_engine_agrees_with_fp32_on_99_percent_of_validation(reference) -> None:
    import csv

    with VALIDATION["sentiment"].open(encoding="utf-8") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)]
    engine = load_engine(default_model_path(), device="cpu", precision="auto", runtime="auto")
    report = agreement(reference, engine, texts)
    assert report.label_agreement["sentiment"] >= 0.99, (engine.runtime, engine.precision, report)
