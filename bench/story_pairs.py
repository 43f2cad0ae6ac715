"""The labelled near-duplicate pairs the story detector is measured on, built from the shared corpora.

Same story (label 1): a text and a syndicated copy of it as another outlet would run it, made by
rules a wire desk applies: a new headline over the same body, words swapped for synonyms, the
outlet's boilerplate added, numbers restyled, a clause dropped. Different stories (label 0): two
distinct texts about the same company (the ``entity_level.csv`` files name it), the hard case,
since they share the name and the sector's vocabulary.

``build_pairs`` is deterministic for a seed; ``tests/data/story_pairs.csv`` is its committed output
(regenerate with ``python -m finsent.bench.story_pairs DATA_DIR tests/data/story_pairs.csv``, DATA_DIR
being the folder that holds ``sentfin-headlines/`` and ``finentity/``).
"""

from __future__ import annotations

import csv
import random
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

__all__ = ["StoryPair", "build_pairs", "read_pairs", "reword", "write_pairs"]

_SYNONYMS = {
    "shares": "stock", "stock": "shares", "rises": "gains", "gains": "climbs", "rise": "gain",
    "falls": "drops", "drops": "slips", "fall": "drop", "plunges": "tumbles", "jumps": "surges",
    "surges": "soars", "profit": "earnings", "loss": "deficit", "revenue": "sales",
    "sales": "revenue", "buys": "acquires", "acquires": "buys", "says": "said", "said": "says",
    "cuts": "lowers", "raises": "lifts", "quarter": "period", "up": "higher", "down": "lower",
    "q1": "first-quarter", "q2": "second-quarter", "q3": "third-quarter", "q4": "fourth-quarter",
    "company": "firm", "firm": "company", "plans": "aims", "hikes": "raises",
    "declines": "falls", "dips": "eases", "beats": "tops", "misses": "falls short of",
}
_OUTLETS = [
    ("", " - Reuters"), ("(Bloomberg) ", ""), ("UPDATE 1-", ""), ("", " | Moneycontrol"),
    ("BRIEF-", ""), ("", " - report"), ("", " (PTI)"), ("Market update: ", ""),
]
_HEADLINES = ["Breaking:", "Just in:", "Stocks to watch:", "Hot stock:", "In focus:"]
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s?(%|per cent|crore|cr|mn|million|bn|billion)", re.IGNORECASE)
_UNIT = {"%": " per cent", "per cent": "%", "crore": " cr", "cr": " crore", "mn": " million",
         "million": "mn", "bn": " billion", "billion": "bn"}  # fmt: skip


@dataclass(frozen=True)
class StoryPair:
    """Two texts and whether they are the same story (1) or two stories about one company (0)."""

    a: str
    b: str
    same: int
    how: str  # the rewording used, or the company both texts are about


def _synonyms(words: list[str], rng: random.Random, share: float) -> list[str]:
    out = []
    for w in words:
        swap = _SYNONYMS.get(w.lower())
        out.append(swap if swap and rng.random() < share else w)
    return out


def _restyle_numbers(text: str) -> str:
    return _NUMBER.sub(lambda m: m.group(1) + _UNIT.get(m.group(2).lower(), m.group(2)), text)


def reword(text: str, rng: random.Random) -> tuple[str, str]:
    """A syndicated copy of ``text`` and the rules that made it."""
    words = text.split()
    rules: list[str] = []
    if rng.random() < 0.8:
        words = _synonyms(words, rng, share=0.6)
        rules.append("synonyms")
    if len(words) > 12 and rng.random() < 0.4:
        cut = rng.randrange(len(words) * 2 // 3, len(words))
        words = words[:cut]
        rules.append("trimmed")
    out = " ".join(words)
    if rng.random() < 0.5:
        out = _restyle_numbers(out)
        rules.append("numbers")
    if rng.random() < 0.6:
        head, tail = rng.choice(_OUTLETS)
        out = f"{head}{out}{tail}"
        rules.append("outlet")
    if rng.random() < 0.3:
        out = f"{rng.choice(_HEADLINES)} {out}"
        rules.append("kicker")
    if not rules or out == text:
        out = f"{text} - Reuters"
        rules.append("outlet")
    return out, "+".join(rules)


def _entity_texts(data: Path) -> dict[str, list[str]]:
    by_entity: dict[str, set[str]] = defaultdict(set)
    for name in ("sentfin-headlines", "finentity"):
        with (data / name / "entity_level.csv").open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                by_entity[row["entity"].strip()].add(" ".join(row["text"].split()))
    return {e: sorted(t) for e, t in sorted(by_entity.items()) if len(t) >= 2}


def build_pairs(data: Path, *, same: int = 400, different: int = 400, seed: int = 16) -> list[StoryPair]:
    """``same`` reworded copies and ``different`` same-company pairs of distinct texts."""
    rng = random.Random(seed)
    by_entity = _entity_texts(data)
    entities = sorted(by_entity)
    texts = sorted({t for ts in by_entity.values() for t in ts})
    pairs: list[StoryPair] = []
    for text in rng.sample(texts, same):
        copy, how = reword(text, rng)
        pairs.append(StoryPair(text, copy, 1, how))
    seen: set[tuple[str, str]] = set()
    lowered = lambda t: re.sub(r"\W+", " ", t.lower()).strip()  # noqa: E731
    while len(seen) < different:
        entity = rng.choice(entities)
        a, b = rng.sample(by_entity[entity], 2)
        if lowered(a) == lowered(b) or (a, b) in seen:
            continue  # the corpora hold a few copies of one headline: those are the same story
        seen.add((a, b))
        pairs.append(StoryPair(a, b, 0, entity))
    return pairs


def write_pairs(pairs: list[StoryPair], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["a", "b", "same", "how"])
        writer.writerows((p.a, p.b, p.same, p.how) for p in pairs)


def read_pairs(path: Path) -> list[StoryPair]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [StoryPair(r["a"], r["b"], int(r["same"]), r["how"]) for r in csv.DictReader(fh)]


if __name__ == "__main__":
    write_pairs(build_pairs(Path(sys.argv[1])), Path(sys.argv[2]))
