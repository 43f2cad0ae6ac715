"""Fixtures for the model tests: a tiny plain base encoder and small, learnable labeled files."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.utils.tiny_model import build_tiny_base

POSITIVE = ["surges", "jumps", "beats estimates", "soars", "upgraded", "record profit"]
NEGATIVE = ["plunges", "slumps", "misses estimates", "tumbles", "downgraded", "heavy loss"]
NEUTRAL = ["says", "reports", "announces", "schedules", "comments on", "files"]
TOPICS = {
    "Earnings": ["quarterly earnings", "eps", "revenue guidance"],
    "Fed | Central Banks": ["federal reserve", "rate decision", "powell"],
    "Energy | Oil": ["crude oil", "opec", "brent"],
}
COMPANIES = ["Apple", "Tesla", "Exxon", "Pfizer", "Boeing", "Nvidia", "Ford", "Intel"]


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return path


def sentiment_rows(n: int, seed: int, companies: list[str] = COMPANIES) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label, words = [("Bullish", POSITIVE), ("Bearish", NEGATIVE), ("Neutral", NEUTRAL)][i % 3]
        out.append(
            (
                f"${rng.choice(companies).upper()} {rng.choice(companies)} {rng.choice(words)} https://t.co/x{seed}{i}",
                label,
            )
        )
    return out


def topic_rows(n: int, seed: int, companies: list[str] = COMPANIES) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    names = list(TOPICS)
    out = []
    for i in range(n):
        label = names[i % len(names)]
        out.append((f"{rng.choice(companies)} news: {rng.choice(TOPICS[label])} today &amp; more", label))
    return out


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models gain nothing from a second thread, and the CI machine's cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random plain BertModel with the real MiniLM tokenizer, as a fine-tuning base."""
    return build_tiny_base(tmp_path_factory.mktemp("base") / "tiny-base")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sentiment and topic train/validation CSVs whose labels follow keywords (learnable in seconds)."""
    d = tmp_path_factory.mktemp("data")
    _write_csv(d / "sent_train.csv", sentiment_rows(90, 1))
    _write_csv(
        d / "sent_val.csv", sentiment_rows(30, 2) + sentiment_rows(3, 1)
    )  # 3 leaked train rows
    _write_csv(d / "topic_train.csv", topic_rows(90, 3))
    _write_csv(d / "topic_val.csv", topic_rows(30, 4))
    return d
