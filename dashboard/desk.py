"""What the desk pages read and write: stories and their copies, one document's labels, corrections, explanations.

Plain SQLAlchemy over an engine, like ``queries``; the explanation loads the PyTorch classifier
once per server process (``st.cache_resource``), only when an analyst asks why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine, func, select

from finsent.db import make_sessionmaker, session_scope
from finsent.feedback import Correction, Disagreement, corrections_for, disagreement_rates, record_correction
from finsent.tables import Document, Feedback, Score

__all__ = [
    "DocumentLabels",
    "correct",
    "corrections",
    "disagreements",
    "document_labels",
    "explanation",
    "stories",
    "story_copies",
]


def stories(engine: Engine, *, start: datetime, end: datetime, min_copies: int = 2, limit: int = 200) -> pd.DataFrame:
    """Stories with ``min_copies`` documents or more published in [start, end), most copied first.

    Columns: story, first_seen, last_seen, copies, outlets, sources, title (the first copy's).
    """
    d = Document.__table__.c
    counted = (
        select(d.story_id, func.count().label("copies"), func.min(d.published_at).label("first_seen"),
               func.max(d.published_at).label("last_seen"))
        .where(d.story_id.is_not(None), d.published_at >= start, d.published_at < end)
        .group_by(d.story_id)
        .having(func.count() >= min_copies)
        .order_by(func.count().desc(), func.max(d.published_at).desc())
        .limit(limit)
    )  # fmt: skip
    with engine.connect() as conn:
        heads = conn.execute(counted).all()
        ids = [h.story_id for h in heads]
        members = (
            conn.execute(
                select(d.story_id, d.source, d.title, d.body, d.published_at).where(d.story_id.in_(ids)).order_by(d.published_at, d.id)
            ).all()
            if ids
            else []
        )
    sources: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    for m in members:
        sources.setdefault(m.story_id, [])
        if m.source not in sources[m.story_id]:
            sources[m.story_id].append(m.source)
        titles.setdefault(m.story_id, m.title or m.body[:200])
    frame = pd.DataFrame(
        [
            {
                "story": h.story_id,
                "first_seen": h.first_seen,
                "last_seen": h.last_seen,
                "copies": int(h.copies),
                "outlets": len(sources.get(h.story_id, [])),
                "sources": ", ".join(sources.get(h.story_id, [])),
                "title": titles.get(h.story_id, ""),
            }
            for h in heads
        ],
        columns=["story", "first_seen", "last_seen", "copies", "outlets", "sources", "title"],
    )
    for column in ("first_seen", "last_seen"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def story_copies(engine: Engine, story_id: str, *, model_version: str | None) -> pd.DataFrame:
    """Every copy of one story, first first, with the model's sentiment of each."""
    d, s = Document.__table__.c, Score.__table__.c
    query = (
        select(d.published_at.label("time"), d.source, d.title, s.sentiment, d.url, d.id)
        .outerjoin(Score.__table__, (s.document_id == d.id) & (s.model_version == (model_version or "")))
        .where(d.story_id == story_id)
        .order_by(d.published_at, d.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=["time", "source", "title", "sentiment", "url", "id"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


@dataclass(frozen=True)
class DocumentLabels:
    """One document and one model version's labels of it."""

    id: str
    text: str
    tickers: list[str]
    story_id: str | None
    sentiment: str
    sentiment_score: float
    topic: str | None
    ticker_sentiments: dict[str, dict[str, Any]]


def document_labels(engine: Engine, document_id: str, model_version: str) -> DocumentLabels | None:
    d, s = Document.__table__.c, Score.__table__.c
    query = (
        select(d.id, d.title, d.body, d.tickers, d.story_id, s.sentiment, s.sentiment_score, s.topic, s.ticker_sentiments)
        .join(Score.__table__, s.document_id == d.id)
        .where(d.id == document_id, s.model_version == model_version)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    text = f"{row.title}\n{row.body}" if row.title and row.body else (row.title or row.body)
    return DocumentLabels(
        id=row.id, text=text, tickers=list(row.tickers or []), story_id=row.story_id, sentiment=row.sentiment,
        sentiment_score=float(row.sentiment_score), topic=row.topic, ticker_sentiments=dict(row.ticker_sentiments or {}),
    )  # fmt: skip


def corrections(engine: Engine, document_ids: list[str]) -> list[Correction]:
    with make_sessionmaker(engine)() as session:
        return corrections_for(session, document_ids)


def correct(engine: Engine, **kwargs: Any) -> Correction:
    """Store one correction (``finsent.feedback.record_correction``'s arguments); ValueError/LookupError as it raises."""
    with session_scope(make_sessionmaker(engine)) as session:
        return record_correction(session, **kwargs)


def disagreements(engine: Engine) -> list[Disagreement]:
    with engine.connect() as conn:
        if not conn.dialect.has_table(conn, Feedback.__tablename__):
            return []
    with make_sessionmaker(engine)() as session:
        return disagreement_rates(session)


@st.cache_resource(show_spinner="Loading the model to explain the label…")
def _classifier(path: str, max_length: int) -> Any:
    from finsent.model.classifier import load

    return load(path, device="cpu", max_length=max_length)


def explanation(model_path: str, max_length: int, text: str, task: str = "sentiment") -> Any:
    """Integrated-gradient attributions of ``text``'s label by the configured model (``model.explain``)."""
    from finsent.model.explain import explain

    return explain(_classifier(model_path, max_length), text, task=task)
