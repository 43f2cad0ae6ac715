"""The one scoring seam: the worker, backfill and ``finsent classify`` all score through :func:`score_texts`.

:class:`Predictor` is what they need of a model (:class:`~finsent.model.classifier.Classifier` and
:class:`~finsent.model.engine.Engine` are both one); :func:`predictions` turns either one's logits into
:class:`Prediction` objects; :func:`score_messages` gives news messages their scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from finsent.messages import NewsMessage, ScoredMessage, utcnow
from finsent.model.data import ENTITY_TASK, entity_input

if TYPE_CHECKING:
    import torch

__all__ = [
    "EntityPredictor",
    "Prediction",
    "Predictor",
    "has_entity_head",
    "predictions",
    "recalibrated",
    "score_entities",
    "score_messages",
    "score_texts",
    "with_ticker_sentiments",
]


@dataclass(frozen=True)
class Prediction:
    """One text's verdict. A task the model lacks is None."""

    sentiment: str | None
    sentiment_score: float | None
    topic: str | None
    topic_score: float | None
    probabilities: dict[str, dict[str, float]] = field(default_factory=dict)


class Predictor(Protocol):
    """What scoring needs of a model: its version and a batched ``predict``."""

    version: str

    def predict(self, texts: Sequence[str]) -> Sequence[Prediction]: ...


class EntityPredictor(Protocol):
    """What per-company scoring needs: the heads' labels and raw logits (Classifier and Engine have both)."""

    version: str
    tasks: Mapping[str, Sequence[str]]

    def logits(self, texts: Sequence[str]) -> Mapping[str, torch.Tensor]: ...


def predictions(logits: Mapping[str, torch.Tensor], tasks: Mapping[str, Sequence[str]]) -> list[Prediction]:
    """Per text: each task's most probable label and its probability, and every probability (6 places).

    The entity head is left out: on a plain text it answers a question nobody asked (see ``score_entities``).
    """
    import torch

    columns: dict[str, tuple[list[str], list[float], list[list[float]]]] = {}
    for task, values in logits.items():
        if task == ENTITY_TASK:
            continue
        probs = torch.softmax(values, dim=-1)
        best, arg = probs.max(dim=-1)
        names = tasks[task]
        columns[task] = ([names[j] for j in arg.tolist()], best.tolist(), probs.tolist())
    n = len(next(iter(columns.values()))[0]) if columns else 0
    sentiment, topic = columns.get("sentiment"), columns.get("topic")
    return [
        Prediction(
            sentiment=sentiment[0][i] if sentiment else None,
            sentiment_score=sentiment[1][i] if sentiment else None,
            topic=topic[0][i] if topic else None,
            topic_score=topic[1][i] if topic else None,
            probabilities={
                task: {label: round(p, 6) for label, p in zip(tasks[task], col[2][i])} for task, col in columns.items()
            },
        )
        for i in range(n)
    ]


def recalibrated(p: Prediction, task: str, power: float) -> Prediction:
    """``p`` with ``task``'s probabilities under another temperature (power = T_folded / T_kind).

    The label cannot change (a positive power keeps the order); its score and the probabilities do.
    """
    from finsent.model.calibration import rescale

    probs = p.probabilities.get(task)
    if not probs or task not in ("sentiment", "topic"):
        return p
    labels = list(probs)
    values = rescale([probs[label] for label in labels], power)
    best = max(range(len(values)), key=values.__getitem__)
    probabilities = {**p.probabilities, task: {label: round(v, 6) for label, v in zip(labels, values, strict=True)}}
    if task == "sentiment":
        return replace(p, sentiment=labels[best], sentiment_score=values[best], probabilities=probabilities)
    return replace(p, topic=labels[best], topic_score=values[best], probabilities=probabilities)


def score_texts(
    predictor: Predictor, texts: Sequence[str], *, kinds: Sequence[str | None] | None = None
) -> list[Prediction]:
    """Every text's prediction, in input order (non-strings are scored as their ``str``).

    ``kinds[i]`` ("news", "comment"; None is news) picks text i's calibration: a checkpoint with a
    comment temperature scores comments with it (see ``model.calibration``).
    """
    if not texts:
        return []
    scored = list(predictor.predict([t if isinstance(t, str) else str(t) for t in texts]))
    if len(scored) != len(texts):
        raise ValueError(f"model {predictor.version} returned {len(scored)} predictions for {len(texts)} texts")
    if kinds is not None:
        from finsent.model.calibration import kind_powers

        powers = kind_powers((getattr(predictor, "card", None) or {}).get("calibration") or {})
        for i, kind in enumerate(kinds):
            for task, power in powers.get(kind or "", {}).items():
                scored[i] = recalibrated(scored[i], task, power)
    return scored


def score_messages(
    predictor: Predictor, messages: Sequence[NewsMessage], *, scored_at: datetime | None = None
) -> list[ScoredMessage]:
    """The messages with the model's scores (``scored_at`` defaults to now); blocking, so call it off an event loop.

    A score needs a sentiment, so a model without a sentiment head is refused (ValueError).
    """
    if not messages:
        return []
    at = scored_at or utcnow()
    out: list[ScoredMessage] = []
    scored = score_texts(predictor, [m.text for m in messages], kinds=[m.kind for m in messages])
    for message, p in zip(messages, scored, strict=True):
        if p.sentiment is None or p.sentiment_score is None:
            raise ValueError(f"model {predictor.version} has no sentiment head; scoring news needs one")
        # The messages are validated NewsMessages already: constructing skips a second validation.
        out.append(
            ScoredMessage.model_construct(
                **dict(message),
                model_version=predictor.version,
                sentiment=p.sentiment,
                sentiment_score=float(p.sentiment_score),
                topic=p.topic,
                topic_score=p.topic_score,
                probabilities=p.probabilities,
                scored_at=at,
            )
        )
    return out


def has_entity_head(predictor: object) -> bool:
    """Whether the model can give one company's sentiment within a text."""
    return ENTITY_TASK in getattr(predictor, "tasks", {})


def score_entities(predictor: EntityPredictor, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, float]]:
    """(label, probability) of each (text, company) pair: the sentiment of that text towards that company.

    One encoder pass per pair, on the marked input ``entity_input(text, company)``; ValueError for a
    model without the entity head.
    """
    import torch

    if not pairs:
        return []
    if not has_entity_head(predictor):
        raise ValueError(f"model {predictor.version} has no {ENTITY_TASK} head")
    logits = predictor.logits([entity_input(text, entity) for text, entity in pairs])[ENTITY_TASK]
    best, arg = torch.softmax(logits, dim=-1).max(dim=-1)
    labels = predictor.tasks[ENTITY_TASK]
    return [(labels[j], float(p)) for j, p in zip(arg.tolist(), best.tolist(), strict=True)]


def with_ticker_sentiments(
    predictor: Predictor, scored: Sequence[ScoredMessage], mentions: Sequence[Mapping[str, str]]
) -> list[ScoredMessage]:
    """The scored messages with each ticker's own sentiment where a text names two tickers or more.

    ``mentions[i]``: how message i's text names each ticker ('Tata Motors', '$TTM';
    ``finsent.tickers.TickerMatcher.mentions``); a ticker the text never names (a feed's tag) is
    asked about by its symbol. With the entity head, one more encoder pass per (text, ticker),
    method "entity"; without it the text's sentiment stands in, method "sentence", so a reader
    can tell the two apart. A text about one ticker (or none) keeps ``ticker_sentiments`` empty:
    its sentence sentiment is that ticker's.
    """
    several = [i for i, m in enumerate(scored) if len(m.tickers) >= 2]
    if not several:
        return list(scored)
    entity = has_entity_head(predictor)
    pairs = [(i, t, mentions[i].get(t, t)) for i in several for t in scored[i].tickers]
    verdicts = (
        score_entities(predictor, [(scored[i].text, name) for i, _, name in pairs])  # type: ignore[arg-type]
        if entity
        else [(scored[i].sentiment, scored[i].sentiment_score) for i, _, _ in pairs]
    )
    per: dict[int, dict[str, dict[str, Any]]] = {}
    for (i, ticker, _), (label, score) in zip(pairs, verdicts, strict=True):
        per.setdefault(i, {})[ticker] = {
            "sentiment": label,
            "score": round(float(score), 6),
            "method": "entity" if entity else "sentence",
        }
    out = list(scored)
    for i, value in per.items():
        out[i] = out[i].model_copy(update={"ticker_sentiments": value})
    return out
