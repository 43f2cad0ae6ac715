"""Scored-message factories for alert tests: a flat stream of ordinary news and a burst about one ticker."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from finsent.db import session_scope
from finsent.messages import SENTIMENT_LABELS, ScoredMessage
from finsent.store import rollup_deltas
from finsent.tables import Document, Rollup, Score

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
# (ticker, relative weight): a few busy names, several quiet ones; ACME is quiet, so a burst stands out.
TICKERS: tuple[tuple[str, float], ...] = (
    ("AAPL", 8),
    ("MSFT", 6),
    ("NVDA", 5),
    ("TSLA", 4),
    ("JPM", 3),
    ("XOM", 2),
    ("KO", 1.5),
    ("BA", 1),
    ("PFE", 1),
    ("ACME", 0.6),
)
TOPICS = ("Earnings", "M&A", "Macro", "Fed | Central Banks", "Markets", "Energy", "Tech", "Legal")
SOURCES = ("wire", "blog", "forum")
MIX = (("negative", 0.30), ("neutral", 0.45), ("positive", 0.25))


def scored(
    doc_id: str,
    *,
    at: datetime,
    sentiment: str,
    tickers: Sequence[str] = (),
    topic: str | None = "Earnings",
    source: str = "wire",
    title: str | None = None,
    url: str | None = None,
    version: str = "v1",
    score: float = 0.9,
) -> ScoredMessage:
    """One scored document."""
    return ScoredMessage(
        id=doc_id,
        source=source,
        title=title or f"headline {doc_id}",
        url=url,
        published_at=at,
        tickers=list(tickers),
        model_version=version,
        sentiment=sentiment,
        sentiment_score=score,
        topic=topic,
        topic_score=0.8 if topic else None,
        probabilities={},
        scored_at=at + timedelta(seconds=3),
    )


def flat_stream(
    start: datetime, end: datetime, *, per_minute: float = 8.0, seed: int = 7, version: str = "v1", prefix: str = "f"
) -> list[ScoredMessage]:
    """Ordinary news: Poisson arrivals, a steady 30/45/25 sentiment mix, skewed ticker popularity."""
    rng = random.Random(seed)
    names, weights = zip(*TICKERS, strict=True)
    out: list[ScoredMessage] = []
    at, n = start, 0
    while True:
        at += timedelta(seconds=rng.expovariate(per_minute / 60))
        if at >= end:
            return out
        r = rng.random()
        tickers = [] if r < 0.15 else rng.choices(names, weights) if r < 0.85 else list(dict.fromkeys(rng.choices(names, weights, k=2)))
        sentiment = rng.choices([m[0] for m in MIX], [m[1] for m in MIX])[0]
        out.append(
            scored(
                f"{prefix}{seed}-{n}",
                at=at,
                sentiment=sentiment,
                tickers=tickers,
                topic=rng.choice(TOPICS),
                source=rng.choice(SOURCES),
                version=version,
                score=round(0.5 + rng.random() / 2, 3),
            )
        )
        n += 1


def negative_burst(
    start: datetime, *, ticker: str = "ACME", count: int = 24, minutes: int = 10, version: str = "v1"
) -> list[ScoredMessage]:
    """A wave of bad news about one ticker: ``count`` documents over ``minutes``, 6 in 7 negative."""
    out = []
    for i in range(count):
        out.append(
            scored(
                f"burst-{ticker}-{start:%H%M}-{i}",
                at=start + timedelta(seconds=i * minutes * 60 / count),
                sentiment="neutral" if i % 7 == 6 else "negative",
                tickers=[ticker],
                topic=TOPICS[i % len(TOPICS)],
                source=SOURCES[i % len(SOURCES)],
                title=f"{ticker} shares plunge as regulator opens accounting probe ({i})",
                url=f"https://news.example.test/{ticker.lower()}/{i}",
                version=version,
                score=0.99 - i / 1000,
            )
        )
    return out


def between(messages: Sequence[ScoredMessage], start: datetime, end: datetime) -> list[ScoredMessage]:
    """The messages published in [start, end)."""
    return [m for m in messages if start <= m.published_at < end]


def seed_history(factory: sessionmaker[Session], messages: Sequence[ScoredMessage]) -> None:
    """Bulk-load history into an empty period: the rows and rollups write_scored would write, but executemany.

    ``write_scored`` compiles a fresh multi-row INSERT per chunk, which costs seconds per
    thousand documents on a busy machine; tests load a day of history this way and send the
    minutes they simulate through ``write_scored`` itself.
    """
    now = datetime.now(timezone.utc)
    with session_scope(factory) as session:
        conn = session.connection()
        conn.execute(
            insert(Document.__table__),
            [
                {
                    "id": m.id,
                    "source": m.source,
                    "kind": m.kind,
                    "title": m.title,
                    "body": m.body,
                    "url": m.url,
                    "published_at": m.published_at,
                    "fetched_at": m.fetched_at,
                    "tickers": list(m.tickers),
                    "lang": m.lang,
                    "ingested_at": now,
                }
                for m in messages
            ],
        )
        conn.execute(
            insert(Score.__table__),
            [
                {
                    "document_id": m.id,
                    "model_version": m.model_version,
                    "sentiment": m.sentiment,
                    "sentiment_score": m.sentiment_score,
                    "topic": m.topic,
                    "topic_score": m.topic_score,
                    "probabilities": m.probabilities,
                    "published_at": m.published_at,
                    "scored_at": m.scored_at,
                }
                for m in messages
            ],
        )
        deltas = rollup_deltas(messages)
        conn.execute(
            insert(Rollup.__table__),
            [
                {"model_version": v, "scope_kind": k, "scope": s, "minute": minute, **{x: c.get(x, 0) for x in SENTIMENT_LABELS}}
                for (v, k, s, minute), c in deltas.items()
            ],
        )
