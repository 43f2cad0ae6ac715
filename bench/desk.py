"""``finsent desk bench``: what the desk features cost and how well stories are found.

1. Story quality: precision and recall of "same story" on the labelled pairs
   (``tests/data/story_pairs.csv``, ``finsent.bench.story_pairs``), through the production path:
   MinHash signatures, an LSH band in common, then the estimated similarity over the threshold.
2. Story cost per message: the signature and bands alone (CPU), and the write of a batch on
   PostgreSQL with stories (look-up, bands, story scopes) against without.
3. Per-ticker sentiment cost per message: scoring texts that name two tickers, sentence only
   against sentence plus one entity pass per ticker. A model without the entity head falls back to
   the sentence sentiment; the entity pass is then timed on the same encoder with the marked
   inputs (the head is one linear layer, so the encoder pass is the cost).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from finsent.bench.common import temporary_database
from finsent.bench.story_pairs import StoryPair, read_pairs, reword
from finsent.messages import ScoredMessage
from finsent.stories import StoryOptions, band_keys, signature, similarity

__all__ = ["StoryQuality", "format_report", "run_desk_bench", "scored_messages", "story_quality", "write_cost"]


@dataclass(frozen=True)
class StoryQuality:
    pairs: int
    same: int
    precision: float
    recall: float
    threshold: float


def _same_story(a: str, b: str, options: StoryOptions) -> bool:
    bands, rows = options.bands
    sa, sb = signature(a, options.num_perm), signature(b, options.num_perm)
    if not set(band_keys(sa, bands, rows)) & set(band_keys(sb, bands, rows)):
        return False  # never a candidate: the look-up would not find it
    return similarity(sa, sb) >= options.threshold


def story_quality(pairs: Sequence[StoryPair], options: StoryOptions) -> StoryQuality:
    """Precision and recall of the detector on labelled pairs."""
    tp = fp = fn = 0
    for pair in pairs:
        said = _same_story(pair.a, pair.b, options)
        tp += said and pair.same == 1
        fp += said and pair.same == 0
        fn += (not said) and pair.same == 1
    return StoryQuality(
        pairs=len(pairs),
        same=sum(p.same for p in pairs),
        precision=tp / (tp + fp) if tp + fp else 0.0,
        recall=tp / (tp + fn) if tp + fn else 0.0,
        threshold=options.threshold,
    )


def scored_messages(texts: Sequence[str], n: int, *, copies: float, seed: int, tag: str) -> list[ScoredMessage]:
    """n scored messages over an hour from many sources; a share ``copies`` are reworded copies."""
    rng = random.Random(seed)
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    out: list[ScoredMessage] = []
    for i in range(n):
        base = texts[i % len(texts)]
        text = reword(base, rng)[0] if rng.random() < copies else base
        out.append(
            ScoredMessage(
                id=f"{tag}-{i}",
                source=f"outlet-{rng.randrange(12)}",
                title=text,
                published_at=start + timedelta(seconds=rng.randrange(3600)),
                tickers=["ACME"] if i % 3 == 0 else [],
                model_version="bench",
                sentiment=rng.choice(("negative", "neutral", "positive")),
                sentiment_score=0.9,
                topic="Earnings",
            )
        )
    return out


def write_cost(url: str, batches: list[list[ScoredMessage]], stories: StoryOptions | None) -> float:
    from finsent.db import make_engine, make_sessionmaker, session_scope
    from finsent.store import write_scored

    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    total = 0.0
    try:
        for batch in batches:
            t0 = time.perf_counter()
            with session_scope(factory) as session:
                write_scored(session, batch, stories=stories)
            total += time.perf_counter() - t0
    finally:
        engine.dispose()
    return total


def _ticker_cost(model_path: str, texts: Sequence[str], *, settings: Any) -> dict[str, Any]:
    from finsent.messages import NewsMessage
    from finsent.model.data import entity_input
    from finsent.model.engine import load_engine_from_settings
    from finsent.model.scoring import has_entity_head, score_messages, with_ticker_sentiments

    engine = load_engine_from_settings(settings, path=model_path)
    messages = [
        NewsMessage(source="bench", title=f"Acme Corp and Globex {t}", published_at=datetime.now(timezone.utc), tickers=["ACME", "GLBX"])
        for t in texts
    ]
    mentions = [{"ACME": "Acme Corp", "GLBX": "Globex"}] * len(messages)
    score_messages(engine, messages[:32])  # warm-up: the first pass builds caches
    t0 = time.perf_counter()
    scored = score_messages(engine, messages)
    sentence_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with_ticker_sentiments(engine, scored, mentions)
    attach_s = time.perf_counter() - t0
    entity = has_entity_head(engine)
    if entity:
        entity_s = attach_s
    else:  # the same encoder on the marked inputs: what the entity head's pass costs
        t0 = time.perf_counter()
        engine.predict([entity_input(m.text, name) for m, names in zip(messages, mentions) for name in names.values()])
        entity_s = time.perf_counter() - t0
    n = len(messages)
    return {
        "model_version": engine.version,
        "entity_head": entity,
        "texts": n,
        "tickers_per_text": 2,
        "sentence_only_ms_per_message": round(1000 * sentence_s / n, 3),
        "per_ticker_ms_per_message": round(1000 * (sentence_s + entity_s) / n, 3),
        "fallback_ms_per_message": round(1000 * attach_s / n, 3) if not entity else None,
        "ratio": round((sentence_s + entity_s) / sentence_s, 2),
    }


def run_desk_bench(
    settings: Any,
    *,
    pairs_path: Path,
    messages: int = 4000,
    batch: int = 500,
    model_texts: int = 256,
    model: str | None = None,
    pg_admin_url: str = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every measurement above, as one report."""
    options = StoryOptions.from_settings(settings.stories)
    pairs = read_pairs(pairs_path)
    progress(f"story quality on {len(pairs)} labelled pairs")
    quality = story_quality(pairs, options)
    texts = sorted({p.a for p in pairs})
    corpus = scored_messages(texts, messages, copies=0.3, seed=1, tag="m")
    t0 = time.perf_counter()
    bands, rows = options.bands
    for m in corpus:
        band_keys(signature(m.text, options.num_perm), bands, rows)
    sketch_us = 1e6 * (time.perf_counter() - t0) / len(corpus)
    report: dict[str, Any] = {
        "stories": {
            "pairs": quality.pairs,
            "same_story_pairs": quality.same,
            "precision": round(quality.precision, 4),
            "recall": round(quality.recall, 4),
            "threshold": quality.threshold,
            "num_perm": options.num_perm,
            "bands": bands,
            "rows_per_band": rows,
            "signature_us_per_message": round(sketch_us, 1),
        }
    }
    progress(f"story write cost: {messages} messages in batches of {batch}, PostgreSQL")
    for label, stories in (("without_stories", None), ("with_stories", options)):
        tag = "w" if stories else "n"
        docs = scored_messages(texts, messages, copies=0.3, seed=2, tag=tag)
        batches = [docs[i : i + batch] for i in range(0, len(docs), batch)]
        with temporary_database(pg_admin_url, prefix="finsent_desk_bench") as url:
            seconds = write_cost(url, batches, stories)
        report["stories"][f"write_ms_per_message_{label}"] = round(1000 * seconds / len(docs), 3)
    s = report["stories"]
    s["write_overhead_ms_per_message"] = round(
        s["write_ms_per_message_with_stories"] - s["write_ms_per_message_without_stories"], 3
    )
    progress(f"per-ticker sentiment cost on {model_texts} two-ticker texts")
    report["per_ticker"] = _ticker_cost(model or settings.model.path, texts[:model_texts], settings=settings)
    return report


def format_report(report: dict[str, Any]) -> str:
    s, t = report["stories"], report["per_ticker"]
    return "\n".join(
        [
            f"stories: precision {s['precision']:.3f}, recall {s['recall']:.3f} on {s['pairs']} pairs "
            f"({s['same_story_pairs']} same story), threshold {s['threshold']}, {s['bands']}x{s['rows_per_band']} bands",
            f"stories: signature {s['signature_us_per_message']} us/message; write "
            f"{s['write_ms_per_message_without_stories']} -> {s['write_ms_per_message_with_stories']} ms/message "
            f"(+{s['write_overhead_ms_per_message']})",
            f"per-ticker ({t['model_version']}, entity head: {t['entity_head']}): sentence only "
            f"{t['sentence_only_ms_per_message']} ms/message, with two tickers' own sentiment "
            f"{t['per_ticker_ms_per_message']} ms/message ({t['ratio']}x)",
        ]
    )
