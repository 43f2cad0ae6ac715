"""Multi-source training: per-corpus sampling, per-domain validation, and the fixed news split."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from finsent.model.data import dedup_key
from finsent.model.splits import SplitRule, assign_splits, near_duplicate_groups
from finsent.model.train import draw, epoch_schedule, load_tasks, main
from finsent.model.train_args import DataArguments
from tests.utils.model_data import NEGATIVE, POSITIVE, news_corpus, sentiment_rows
from tests.utils.model_data import train_argv as _argv


def test_draw_repeats_and_subsamples_by_weight() -> None:
    rng = random.Random(0)
    rows = list(range(10))
    assert draw(rows, 2.0, rng) == sorted(rows * 2)
    half = draw(rows, 0.5, rng)
    assert len(half) == 5 and len(set(half)) == 5
    assert len(draw(rows, 1.5, rng)) == 15


def test_near_duplicates_stay_together_and_the_split_is_stable() -> None:
    texts = [
        "Tata Motors shares jump 5% on strong sales",
        "Tata Motors shares jump 5 pc on strong sales",  # re-punctuated
        "TATA MOTORS SHARES JUMP 5% ON STRONG SALES!",  # re-cased
        "Infosys Q2 net profit rises 10%",
        "Sensex ends flat; Infosys Q2 net profit rises 10% in a weak market, says broker report",  # quoted inside
        "Something else entirely about rupee and crude oil prices",
    ]
    groups = near_duplicate_groups(texts)
    assert groups[0] == groups[1] == groups[2] and groups[3] == groups[4] and groups[5] not in (groups[0], groups[3])
    sides = assign_splits(texts)
    assert sides == assign_splits(list(reversed(texts)))
    assert sides[texts[0]] == sides[texts[1]] == sides[texts[2]] and sides[texts[3]] == sides[texts[4]]
    many = [f"headline number {i} about company {i * 7}" for i in range(2000)]
    share = sum(side == "test" for side in assign_splits(many, SplitRule(jaccard=0.99, containment=1.01)).values())
    assert 150 < share < 250  # about 10 %


def test_news_corpora_split_by_rule_and_report_per_domain(tiny_base: Path, data_dir: Path, tmp_path: Path) -> None:
    news = news_corpus(tmp_path / "newsy")
    result = main(
        _argv(
            tiny_base, data_dir, tmp_path,
            "--sentiment_corpora", str(news), "--corpus_weights", "newsy=2",
            "--num_train_epochs", "4", "--early_stopping_patience", "0",
        )
    )  # fmt: skip
    assert {"sentiment", "sentiment@newsy", "topic"} <= set(result.reports)
    assert set(result.test_reports) == {"sentiment@newsy"}
    assert result.reports["sentiment@newsy"].macro_f1 >= 0.7  # keyword news is learnable too
    dargs = DataArguments(
        sentiment_train=str(data_dir / "sent_train.csv"),
        sentiment_validation=str(data_dir / "sent_val.csv"),
        sentiment_corpora=[str(news)],
        corpus_weights=["newsy=2"],
    )
    (task,) = load_tasks(dargs)
    trained = {dedup_key(task.train[i].text) for src in task.sources if src.name == "newsy" for i in src.indices}
    held_out = {dedup_key(e.text) for e in task.validation_sets["newsy"] + task.test_sets["newsy"]}
    assert trained and held_out and not trained & held_out
    assert [s.weight for s in task.sources] == [1.0, 2.0]
    # Twice its size per epoch: the weight is honoured by the schedule.
    task.train_ids = [[101, 102]] * len(task.train)
    drawn = [i for _, b in epoch_schedule([task], 8, 0, 0) for i in b]
    newsy = set(task.sources[1].indices)
    assert sum(i in newsy for i in drawn) == 2 * len(newsy)


def test_the_strict_agreement_subset_drops_derived_labels(data_dir: Path, tmp_path: Path) -> None:
    news = news_corpus(tmp_path / "newsy")
    common = {"sentiment_train": str(data_dir / "sent_train.csv"), "sentiment_corpora": [str(news)]}
    (anyone,) = load_tasks(DataArguments(**common))
    (strict,) = load_tasks(DataArguments(**common, min_agreement="all"))
    assert len(strict.sources[1].indices) < len(anyone.sources[1].indices)


def test_weights_must_name_trained_corpora(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="not trained on"):
        load_tasks(DataArguments(sentiment_train=str(data_dir / "sent_train.csv"), corpus_weights=["nope=2"]))
    with pytest.raises(ValueError, match="NAME=WEIGHT"):
        DataArguments(sentiment_train=str(data_dir / "sent_train.csv"), corpus_weights=["nope"])


def _entity_corpus(folder: Path) -> Path:
    """Headlines about two companies moving apart: one label per company, as in SEntFiN's entity file."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(8)
    rows = []
    for i in range(300):
        a, b = f"Alpha{i % 30}", f"Beta{(i * 7) % 30}"
        up, down = rng.choice(POSITIVE), rng.choice(NEGATIVE)
        filler = " ".join(f"w{rng.randrange(5000)}" for _ in range(3))
        text = f"{a} {up} as {b} {down} {filler}"
        rows += [(text, a, "positive"), (text, b, "negative")]
    with (folder / "entity_level.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "entity", "label"])
        w.writerows(rows)
    return folder / "entity_level.csv"


def test_the_entity_head_gives_each_company_its_own_label(tiny_base: Path, data_dir: Path, tmp_path: Path) -> None:
    from finsent.model.classifier import load
    from finsent.model.data import entity_input

    entities = _entity_corpus(tmp_path / "pairs")
    result = main(
        _argv(
            tiny_base, data_dir, tmp_path,
            "--entity_corpora", str(entities), "--corpus_weights", "entity_sentiment:pairs=2",
            "--num_train_epochs", "8", "--early_stopping_patience", "0",
        )
    )  # fmt: skip
    assert {"entity_sentiment"} <= set(result.reports) and set(result.test_reports) == {"entity_sentiment@pairs"}
    assert result.reports["entity_sentiment"].weighted_f1 >= 0.8
    classifier = load(tmp_path / "model")
    text = "Alpha3 soars as Beta9 tumbles w1 w2 w3"
    logits = classifier.logits([entity_input(text, "Alpha3"), entity_input(text, "Beta9")])["entity_sentiment"]
    labels = [classifier.tasks["entity_sentiment"][i] for i in logits.argmax(-1).tolist()]
    assert labels == ["positive", "negative"]
