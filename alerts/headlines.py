"""The top headlines behind a spike, for notifications: read from documents/scores over the alert's window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, literal, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from finsent.tables import Document, Score

__all__ = ["Headline", "top_headlines"]

_D, _S = Document.__table__.c, Score.__table__.c


@dataclass(frozen=True)
class Headline:
    """One document shown in a notification."""

    title: str
    url: str | None
    source: str
    published_at: datetime
    score: float


def _in_scope(session: Session, scope_kind: str, scope: str) -> ColumnElement[bool] | None:
    if scope_kind == "source":
        return _D.source == scope
    if scope_kind == "topic":
        return _S.topic == scope
    if scope_kind == "ticker":
        if session.get_bind().dialect.name == "postgresql":
            return type_coerce(_D.tickers, JSONB).contains([scope])
        each = func.json_each(_D.tickers).table_valued("value")
        return exists(select(literal(1)).select_from(each).where(each.c.value == scope))
    return None  # scope 'all'


def top_headlines(
    session: Session,
    *,
    model_version: str,
    scope_kind: str,
    scope: str,
    start: datetime,
    end: datetime,
    sentiment: str = "negative",
    limit: int = 3,
) -> list[Headline]:
    """The most confidently ``sentiment`` documents of a scope published in [start, end)."""
    conditions = [
        _S.model_version == model_version,
        _S.published_at >= start,
        _S.published_at < end,
        _S.sentiment == sentiment,
    ]
    in_scope = _in_scope(session, scope_kind, scope)
    if in_scope is not None:
        conditions.append(in_scope)
    rows = session.execute(
        select(_D.title, _D.url, _D.source, _S.published_at, _S.sentiment_score)
        .join(Document.__table__, _D.id == _S.document_id)
        .where(*conditions)
        .order_by(_S.sentiment_score.desc(), _S.published_at.desc(), _S.document_id)
        .limit(limit)
    )
    return [Headline(title or "(untitled)", url, source, at, float(score)) for title, url, source, at, score in rows]
