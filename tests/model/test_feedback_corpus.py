"""``finsent train --feedback``: the analysts' exported corrections train as one more, weighted corpus."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from finsent.model.train import main
from finsent.model.train_args import DataArguments
from tests.utils.model_data import sentiment_rows, train_argv


def _feedback(folder: Path, n: int) -> Path:
    """What `finsent feedback export` writes (tests/finsent/test_feedback.py checks the export itself)."""
    folder.mkdir(parents=True)
    rows = sentiment_rows(n, 11)
    with (folder / "sentiment.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(rows)
    with (folder / "topic.csv").open("w", newline="") as fh:
        csv.writer(fh).writerow(["text", "label"])
    with (folder / "entity_level.csv").open("w", newline="") as fh:
        csv.writer(fh).writerow(["text", "entity", "label"])  # no ticker corrections: left out
    return folder


def test_feedback_joins_the_corpora_it_has_rows_for(tmp_path: Path, data_dir: Path) -> None:
    folder = _feedback(tmp_path / "feedback", 12)
    args = DataArguments(sentiment_train=str(data_dir / "sent_train.csv"), feedback=str(folder))
    assert args.sentiment_corpora == [str(folder / "sentiment.csv")] and args.entity_corpora is None
    with pytest.raises(ValueError, match="feedback export"):
        DataArguments(sentiment_train=str(data_dir / "sent_train.csv"), feedback=str(tmp_path / "missing"))


def test_training_reads_the_feedback_corpus_with_its_weight(tiny_base: Path, data_dir: Path, tmp_path: Path) -> None:
    folder = _feedback(tmp_path / "feedback", 60)
    result = main(
        train_argv(tiny_base, data_dir, tmp_path, "--feedback", str(folder), "--corpus_weights", "feedback=2",
                   "--max_steps", "6", "--early_stopping_patience", "0")
    )  # fmt: skip
    # The corrections are a corpus of their own: split by text, their test part reported apart.
    assert "sentiment@feedback" in result.test_reports
