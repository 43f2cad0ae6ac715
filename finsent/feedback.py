"""Analysts' corrections of the model's labels: record them, read them back, rate them, export them for training.

A correction names one document, the model version whose label it corrects, what it corrects
(the text's sentiment, its topic, or one ticker's sentiment), the label the analyst gives and
why, who and when. The model's own label is stored beside it, so "the analyst disagreed" stays
true after a rescore. An analyst may also confirm a label (the same label): that counts as a
review without a disagreement, which is what makes the rate a rate.

Exported corrections are the training format of ``finsent train`` (``model/data.py``): a folder
whose ``sentiment.csv`` and ``topic.csv`` are ``text,label`` and whose ``entity_level.csv`` is
``text,entity,label``; the folder's name is the corpus name ``--corpus-weights`` weighs.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from finsent.messages import SENTIMENT_LABELS, utcnow
from finsent.tables import FEEDBACK_FIELDS, Document, Feedback, Score

__all__ = [
    "Correction",
    "Disagreement",
    "corrections_for",
    "disagreement_rates",
    "export_corrections",
    "record_correction",
]


@dataclass(frozen=True)
class Correction:
    """One stored correction, as the pages show it."""

    id: int
    document_id: str
    model_version: str
    field: str
    ticker: str | None
    model_label: str | None
    label: str
    reason: str
    actor: str
    created_at: datetime

    @property
    def disagrees(self) -> bool:
        return self.label != self.model_label


@dataclass(frozen=True)
class Disagreement:
    """How often analysts changed one model version's labels."""

    model_version: str
    reviewed: int
    corrected: int

    @property
    def rate(self) -> float | None:
        return self.corrected / self.reviewed if self.reviewed else None


def _model_label(score: Score, field: str, ticker: str | None) -> str | None:
    if field == "sentiment":
        return score.sentiment
    if field == "topic":
        return score.topic
    own = (score.ticker_sentiments or {}).get(ticker or "")
    return str(own["sentiment"]) if own else score.sentiment  # the text's sentiment stood in for the ticker


def record_correction(
    session: Session,
    *,
    document_id: str,
    model_version: str,
    field: str,
    label: str,
    actor: str,
    reason: str = "",
    ticker: str | None = None,
    topics: Sequence[str] = (),
    now: datetime | None = None,
) -> Correction:
    """Store a correction of ``model_version``'s label; ValueError for one that cannot be right.

    ``topics``: the model's topic labels, to check a topic correction against (empty: not checked).
    """
    if field not in FEEDBACK_FIELDS:
        raise ValueError(f"field must be one of {FEEDBACK_FIELDS}, not {field!r}")
    if field in ("sentiment", "ticker") and label not in SENTIMENT_LABELS:
        raise ValueError(f"a sentiment is one of {SENTIMENT_LABELS}, not {label!r}")
    if field == "topic" and topics and label not in topics:
        raise ValueError(f"{label!r} is not one of the model's topics")
    if not actor.strip():
        raise ValueError("say who you are: corrections are attributed")
    score = session.get(Score, {"document_id": document_id, "model_version": model_version})
    if score is None:
        # PostgreSQL's scores key holds published_at too (partitions); look it up by the two that matter.
        score = session.execute(
            select(Score).where(Score.document_id == document_id, Score.model_version == model_version)
        ).scalar_one_or_none()
    if score is None:
        raise LookupError(f"model {model_version} has not scored document {document_id}")
    if field == "ticker":
        document = session.get(Document, document_id)
        if not ticker or document is None or ticker not in (document.tickers or []):
            raise ValueError(f"the document is not about ticker {ticker!r}")
    else:
        ticker = None
    row = Feedback(
        document_id=document_id,
        model_version=model_version,
        field=field,
        ticker=ticker,
        model_label=_model_label(score, field, ticker),
        label=label,
        reason=reason.strip(),
        actor=actor.strip(),
        created_at=now or utcnow(),
    )
    session.add(row)
    session.flush()
    return _view(row)


def _view(row: Feedback) -> Correction:
    return Correction(
        id=row.id, document_id=row.document_id, model_version=row.model_version, field=row.field, ticker=row.ticker,
        model_label=row.model_label, label=row.label, reason=row.reason, actor=row.actor, created_at=row.created_at,
    )  # fmt: skip


def corrections_for(session: Session, document_ids: Sequence[str]) -> list[Correction]:
    """Every correction of these documents, newest first."""
    if not document_ids:
        return []
    rows = session.execute(
        select(Feedback).where(Feedback.document_id.in_(list(document_ids))).order_by(Feedback.created_at.desc(), Feedback.id.desc())
    ).scalars()
    return [_view(r) for r in rows]


def disagreement_rates(session: Session) -> list[Disagreement]:
    """Per model version: labels reviewed, and how many of them the analyst changed."""
    changed = case((Feedback.label != func.coalesce(Feedback.model_label, ""), 1), else_=0)
    rows = session.execute(
        select(Feedback.model_version, func.count(), func.sum(changed)).group_by(Feedback.model_version)
        .order_by(Feedback.model_version)
    ).all()  # fmt: skip
    return [Disagreement(v, int(n), int(c or 0)) for v, n, c in rows]


def export_corrections(
    session: Session,
    folder: Path,
    *,
    model_version: str | None = None,
    mentions: Callable[[str], Mapping[str, str]] = lambda _: {},
) -> dict[str, int]:
    """Write the corrections as training files in ``folder``; returns rows per file.

    The latest correction of each (document, field, ticker) wins, whoever made it; confirmations
    are exported too (a confirmed label is a labelled example like any other). A ticker's row
    names the company as the text does (``mentions``, the watchlist's
    ``TickerMatcher.mentions``): the entity head reads names, and learnt them from names.
    """
    query = select(Feedback, Document.title, Document.body).join(Document, Document.id == Feedback.document_id)
    if model_version is not None:
        query = query.where(Feedback.model_version == model_version)
    latest: dict[tuple[str, str, str | None], tuple[Feedback, str]] = {}
    for row, title, body in session.execute(query.order_by(Feedback.created_at, Feedback.id)):
        text = f"{title}\n{body}" if title and body else (title or body)
        latest[(row.document_id, row.field, row.ticker)] = (row, text)
    files: dict[str, list[list[str]]] = {"sentiment.csv": [], "topic.csv": [], "entity_level.csv": []}
    for (doc_id, field, ticker), (row, text) in sorted(latest.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")):
        if field == "ticker":
            files["entity_level.csv"].append([text, mentions(text).get(ticker or "", ticker or ""), row.label])
        else:
            files[f"{field}.csv"].append([text, row.label])
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        header = ["text", "entity", "label"] if name == "entity_level.csv" else ["text", "label"]
        with (folder / name).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
    return {name: len(rows) for name, rows in files.items()}
