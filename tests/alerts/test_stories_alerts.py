"""Alert rates count stories and each ticker's own sentiment: one syndicated headline does not fire a spike.

The shipped rules on PostgreSQL, with simulated time as in test_end_to_end: a day of ordinary news as the
baseline, then ten minutes of bad news about ACME, written as the worker writes it (with stories).
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from finsent.alerts.wiring import build_cycle
from finsent.db import session_scope
from finsent.settings import AlertSettings
from finsent.stories import StoryOptions
from finsent.store import write_scored
from tests.utils.alert_history import SOURCES, T0, between, flat_stream, negative_burst, scored, seed_history

MINUTE = timedelta(minutes=1)
OUTLETS = [f"outlet-{i}" for i in range(24)]
_WORDS = (
    "audit board bond cash chip court crude deal debt dividend drug export factory fine fund grid guidance "
    "hiring index inventory lawsuit lender margin merger mine network order output patent pension plant "
    "port price probe rate recall refinery rival royalty satellite shipment steel strike supplier tariff "
    "tax tender trial truck union vaccine vote wage warehouse yield"
).split()


def _run(factory: sessionmaker[Session], burst: list, options: StoryOptions) -> list[tuple[str, str, str]]:
    """Baseline, then the burst minute by minute; the transitions of the cycle ten minutes in."""
    rng = random.Random(5)
    # Ordinary news is many different stories: titles of their own (flat_stream's differ only in a number).
    stream = [
        m.model_copy(update={"title": " ".join(rng.sample(_WORDS, 8))})
        for m in flat_stream(T0 - timedelta(days=1), T0 + 11 * MINUTE)
    ]
    seed_history(factory, between(stream, T0 - timedelta(days=1), T0))
    cycle = build_cycle(AlertSettings(), factory)
    fired: list[tuple[str, str, str]] = []
    for i in range(1, 11):
        at = T0 + i * MINUTE
        with session_scope(factory) as s:
            write_scored(s, between(stream, at - MINUTE, at) + between(burst, at - MINUTE, at), stories=options)
        fired += [(t.kind, t.scope_kind, t.scope) for t in cycle.evaluate(at).transitions]
    return fired


def _syndicated() -> list:
    """One wire story about ACME run by 24 outlets, each in its own words (negative_burst's headline)."""
    burst = negative_burst(T0, ticker="ACME", count=24, minutes=10)
    return [m.model_copy(update={"source": OUTLETS[i], "title": m.title.rsplit(" (", 1)[0] + f" - {OUTLETS[i]}"})
            for i, m in enumerate(burst)]  # fmt: skip


@pytest.mark.parametrize(("count", "fires"), [("stories", False), ("documents", True)])
def test_one_syndicated_story_fires_only_when_counting_documents(pg_factory, count: str, fires: bool) -> None:
    fired = _run(pg_factory, _syndicated(), StoryOptions(count=count))
    assert (("fired", "ticker", "ACME") in fired) is fires, fired


def test_independent_stories_fire_and_a_ticker_counts_its_own_sentiment(pg_factory) -> None:
    """24 different stories in which ACME slumps while BETA rallies: the text reads positive, ACME's own is negative."""
    rng = random.Random(3)
    burst = []
    for i in range(24):
        words = rng.sample(_WORDS, 9)
        m = scored(
            f"pair-{i}", at=T0 + timedelta(seconds=i * 25), sentiment="positive", tickers=["BETA", "ACME"],
            source=SOURCES[i % len(SOURCES)],
            title=f"BETA {' '.join(words[:4])} rallies while ACME slumps on {' '.join(words[4:])}",
        )  # fmt: skip
        burst.append(
            m.model_copy(
                update={
                    "ticker_sentiments": {
                        "ACME": {"sentiment": "negative", "score": 0.9, "method": "entity"},
                        "BETA": {"sentiment": "positive", "score": 0.9, "method": "entity"},
                    }
                }
            )
        )
    fired = _run(pg_factory, burst, StoryOptions())
    assert ("fired", "ticker", "ACME") in fired, fired
    assert ("fired", "ticker", "BETA") not in fired
