"""Labeled text files in, clean (text, label) examples out.

Reads CSV (a ``text`` and a ``label`` column) or JSONL (the same fields) and maps foreign label
names onto finsent's (Bearish -> negative). Validation rows whose normalised text occurs in the
training file are dropped (:func:`dedup_against`): the TFN corpora re-tweet the same headline with a
different t.co link, and scoring those rows would measure memory, not generalisation.
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from finsent.messages import SENTIMENT_LABELS
from finsent.model.labels import TOPIC_LABELS, canonical_sentiment

__all__ = [
    "ENTITY_SEPARATOR",
    "ENTITY_TASK",
    "Example",
    "dedup_against",
    "dedup_key",
    "default_labels",
    "entity_input",
    "label_index",
    "model_input_text",
    "read_examples",
    "read_records",
]

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Example:
    """One labeled text; ``label`` is an index into the task's label list."""

    text: str
    label: int


# The entity head reads "<entity> [SEP] <text>": BERT's sentence-pair form, the target named first.
ENTITY_SEPARATOR = " [SEP] "
ENTITY_TASK = "entity_sentiment"


def entity_input(text: str, entity: str) -> str:
    """The input of the entity-sentiment head for one (text, target entity) pair."""
    return f"{entity.strip()}{ENTITY_SEPARATOR}{text}"


def dedup_key(text: str) -> str:
    """The identity used to find the same headline twice: URLs stripped, lowercased, spaces collapsed."""
    return _SPACE.sub(" ", _URL.sub(" ", text)).strip().lower()


def model_input_text(text: str) -> str:
    """Model input: URLs dropped, HTML entities decoded, whitespace collapsed.

    Links carry no sentiment and news sentences have none, so the model must not learn them as a cue;
    the topic corpus keeps ``&amp;`` that a news feed would not have.
    """
    return _SPACE.sub(" ", html.unescape(_URL.sub(" ", text))).strip()


def read_records(path: str | Path) -> list[dict[str, object]]:
    """All rows of a CSV (header row) or JSONL file as dicts, in file order."""
    src = Path(path)
    if src.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        with src.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    with src.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def default_labels(task: str) -> list[str]:
    """finsent's label list for a known task."""
    if task in ("sentiment", ENTITY_TASK):
        return list(SENTIMENT_LABELS)
    if task == "topic":
        return list(TOPIC_LABELS)
    raise ValueError(f"unknown task {task!r}: expected 'sentiment' or 'topic'")


def label_index(raw: object, task: str, labels: Sequence[str]) -> int:
    """The index of a file's label in ``labels`` ('Bearish' -> negative's index)."""
    value = str(raw).strip()
    if task == "sentiment":
        value = canonical_sentiment(value) or value
    if value in labels:
        return labels.index(value)
    # Integer labels follow the dataset's own order, which for the topic corpus is TOPIC_LABELS.
    if value.isdigit() and task == "topic" and int(value) < len(labels):
        return int(value)
    raise ValueError(f"label {raw!r} is not one of the {task} labels {list(labels)}")


def read_examples(
    path: str | Path,
    task: str,
    labels: Sequence[str] | None = None,
    *,
    text_field: str = "text",
    label_field: str = "label",
    limit: int | None = None,
) -> list[Example]:
    """Labeled examples of one task from a CSV/JSONL file."""
    labels = list(labels) if labels is not None else default_labels(task)
    rows = read_records(path)
    if rows and (text_field not in rows[0] or label_field not in rows[0]):
        raise ValueError(f"{path}: needs '{text_field}' and '{label_field}' fields, has {sorted(rows[0])}")
    examples = [Example(str(r[text_field]), label_index(r[label_field], task, labels)) for r in rows]
    return examples[:limit] if limit is not None else examples


def dedup_against(examples: Iterable[Example], reference: Iterable[Example | str]) -> list[Example]:
    """``examples`` whose normalised text does not occur in ``reference`` (e.g. validation vs train)."""
    seen = {dedup_key(r.text if isinstance(r, Example) else r) for r in reference}
    return [e for e in examples if dedup_key(e.text) not in seen]
