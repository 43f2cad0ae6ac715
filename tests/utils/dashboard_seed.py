"""A small, deterministic scored-news history for the dashboard's tests, written through the real store.

26 hours of flow up to ``now`` (two documents a minute over 6 topics, 8 tickers, 4 sources,
about 20% negative), then a spike in the last 15 minutes: Energy | Oil news about XOM, 80%
negative, enough for the shipped alert rules to fire. A second, older model version scored a few
documents, for the Model page.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from finsent import migrations
from finsent.alerts.wiring import build_cycle
from finsent.db import make_engine, make_sessionmaker, session_scope
from finsent.messages import ScoredMessage
from finsent.settings import Settings
from finsent.store import write_scored

MAIN_VERSION = "finsent-minilm@1a2b3c4d"
OLD_VERSION = "finsent-minilm-old@99999999"
TOPICS = ("Earnings", "Macro", "Energy | Oil", "M&A | Investments", "Legal | Regulation", "Stock Movement")
TICKERS = ("AAPL", "MSFT", "JPM", "XOM", "CVX", "TSLA", "PFE", "KO")
SOURCES = ("reuters-wire", "dowjones", "stocktwits", "ft")
SPIKE_TOPIC = "Energy | Oil"
SPIKE_TICKER = "XOM"
SPIKE_TITLE = "XOM shares slide as refinery outage widens"
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)  # the dashboard tests' "now"


@dataclass(frozen=True)
class Seeded:
    """What was written, for assertions."""

    url: str
    now: datetime
    messages: tuple[ScoredMessage, ...]

    def main(self) -> list[ScoredMessage]:
        return [m for m in self.messages if m.model_version == MAIN_VERSION]


def _message(
    i: int,
    *,
    at: datetime,
    topic: str,
    ticker: str,
    source: str,
    sentiment: str,
    title: str,
    version: str = MAIN_VERSION,
    score: float = 0.9,
) -> ScoredMessage:
    return ScoredMessage(
        id=f"doc-{version.rpartition('@')[2]}-{i:06d}",  # distinct per version: the store refuses an id reused for other content
        source=source,
        kind="comment" if source == "stocktwits" else "news",
        title=title,
        body="",
        url=f"https://news.example.com/{source}/{i}",
        published_at=at,
        tickers=[ticker],
        model_version=version,
        sentiment=sentiment,
        sentiment_score=score,
        topic=topic,
        topic_score=0.8,
        probabilities={"sentiment": {sentiment: score}},
        fetched_at=at + timedelta(seconds=5),
        scored_at=at + timedelta(seconds=30),
    )


def build(now: datetime, *, hours: int = 26) -> list[ScoredMessage]:
    """The messages, deterministic for a given ``now``."""
    rng = random.Random(7)
    now = now.replace(second=0, microsecond=0)
    out: list[ScoredMessage] = []
    i = 0
    for minute in range(hours * 60, 0, -1):
        at = now - timedelta(minutes=minute)
        for k in range(2):
            topic = TOPICS[(minute + k) % len(TOPICS)]
            if topic == SPIKE_TOPIC:  # the spike topic's usual flow is calm
                ticker = "CVX"
            else:
                ticker = TICKERS[(minute * 3 + k) % len(TICKERS)]
                ticker = "AAPL" if ticker in (SPIKE_TICKER, "CVX") else ticker
            r = rng.random()
            sentiment = "negative" if r < 0.2 else "neutral" if r < 0.7 else "positive"
            verb = {"negative": "falls", "neutral": "steady", "positive": "gains"}[sentiment]
            title = f"{ticker} {verb} on {topic.lower()} news #{i}"
            out.append(
                _message(
                    i,
                    at=at + timedelta(seconds=20 * k),
                    topic=topic,
                    ticker=ticker,
                    source=SOURCES[(minute + k) % len(SOURCES)],
                    sentiment=sentiment,
                    title=title,
                    score=round(0.5 + rng.random() / 2, 3),
                )
            )
            i += 1
    for minute in range(15, 0, -1):  # the spike: 6 a minute in the last 15 minutes, 80% negative
        at = now - timedelta(minutes=minute)
        for k in range(6):
            sentiment = "negative" if (minute + k) % 5 else "neutral"
            title = SPIKE_TITLE if sentiment == "negative" else f"XOM holds output guidance #{i}"
            out.append(
                _message(
                    i,
                    at=at + timedelta(seconds=5 + 9 * k),
                    topic=SPIKE_TOPIC,
                    ticker=SPIKE_TICKER,
                    source="reuters-wire",
                    sentiment=sentiment,
                    title=f"{title} ({i})",
                    score=0.97,
                )
            )
            i += 1
    for j in range(40):  # an older model version, a day back
        out.append(
            _message(
                j,
                at=now - timedelta(hours=25, minutes=j),
                topic="Macro",
                ticker="KO",
                source="ft",
                sentiment="positive",
                title=f"KO old-model headline {j}",
                version=OLD_VERSION,
                score=0.6,
            )
        )
    return out


def seed(url: str, now: datetime) -> Seeded:
    """Write the history into a migrated database at ``url``."""
    messages = build(now)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    for start in range(0, len(messages), 1000):
        with session_scope(factory) as session:
            write_scored(session, messages[start : start + 1000])
    engine.dispose()
    return Seeded(url=url, now=now.replace(second=0, microsecond=0), messages=tuple(messages))


def fire_alerts(url: str, now: datetime) -> int:
    """Run one real evaluation of the shipped alert rules (no notifiers); returns how many fire."""
    engine = make_engine(url)
    try:
        cycle = build_cycle(
            Settings().alerts, make_sessionmaker(engine), notifiers={}, model_version=MAIN_VERSION
        )
        return cycle.evaluate(now=now).firing
    finally:
        engine.dispose()


def seeded_database(url: str, now: datetime) -> Seeded:
    """Migrate, seed the history and let the alert rules fire on its spike."""
    migrations.upgrade(url)
    result = seed(url, now)
    fire_alerts(url, now)
    return result
