"""Small, learnable labeled files for the model tests, and the argv of a quick ``finsent train`` on them."""

from __future__ import annotations

import csv
import random
from pathlib import Path

__all__ = [
    "COMPANIES",
    "NEGATIVE",
    "NEUTRAL",
    "POSITIVE",
    "TOPICS",
    "news_corpus",
    "sentiment_rows",
    "topic_rows",
    "train_argv",
    "write_csv",
]

POSITIVE = ["surges", "jumps", "beats estimates", "soars", "upgraded", "record profit"]
NEGATIVE = ["plunges", "slumps", "misses estimates", "tumbles", "downgraded", "heavy loss"]
NEUTRAL = ["says", "reports", "announces", "schedules", "comments on", "files"]
TOPICS = {
    "Earnings": ["quarterly earnings", "eps", "revenue guidance"],
    "Fed | Central Banks": ["federal reserve", "rate decision", "powell"],
    "Energy | Oil": ["crude oil", "opec", "brent"],
}
COMPANIES = ["Apple", "Tesla", "Exxon", "Pfizer", "Boeing", "Nvidia", "Ford", "Intel"]


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
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


def news_corpus(folder: Path, n: int = 240) -> Path:
    """A news-like corpus (text,label,agreement) with an entity-level file, as in ../shared/data."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(5)
    rows = []
    for i in range(n):
        label, words = [("positive", POSITIVE), ("negative", NEGATIVE), ("neutral", NEUTRAL)][i % 3]
        company = f"Company{i % 40}"
        # Distinct filler words, so the rows are not near-duplicates of each other and do split.
        filler = " ".join(f"w{rng.randrange(5000)}" for _ in range(4))
        rows.append((f"{company} {rng.choice(words)} {filler}", label, "all" if i % 5 else "polar+neutral"))
    with (folder / "train.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label", "agreement"])
        w.writerows(rows)
    with (folder / "entity_level.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "entity", "label"])
        w.writerows((t, t.split()[0], lab) for t, lab, _ in rows[:50])
    return folder / "train.csv"


def train_argv(tiny_base: Path, data_dir: Path, out: Path, *extra: str) -> list[str]:
    """A quick, deterministic ``finsent train`` of the tiny base on ``data_dir``'s files (see the model conftest)."""
    return [
        "--base_model", str(tiny_base),
        "--sentiment_train", str(data_dir / "sent_train.csv"),
        "--sentiment_validation", str(data_dir / "sent_val.csv"),
        "--topic_train", str(data_dir / "topic_train.csv"),
        "--topic_validation", str(data_dir / "topic_val.csv"),
        "--output_dir", str(out / "model"),
        "--checkpoint_dir", str(out / "ckpt"),
        "--per_device_train_batch_size", "8",
        "--learning_rate", "3e-3",
        "--warmup_ratio", "0.1",
        "--label_smoothing", "0.0",
        "--threads", "1",
        # A random tiny base has no embeddings worth keeping; frozen, they leave it nothing to learn from.
        "--no_freeze_embeddings",
        "--disable_tqdm",
        "--seed", "7",
        *extra,
    ]  # fmt: skip
