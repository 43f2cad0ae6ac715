"""The topic vocabulary and the mapping of foreign label names onto finsent's (sentiment: ``finsent.messages.SENTIMENT_LABELS``)."""

from __future__ import annotations

__all__ = ["TOPIC_LABELS", "canonical_sentiment", "is_sentiment_vocabulary"]

# The 20 topics of the Twitter Financial News topic corpus, in its label order.
TOPIC_LABELS: tuple[str, ...] = (
    "Analyst Update",
    "Fed | Central Banks",
    "Company | Product News",
    "Treasuries | Corporate Debt",
    "Dividend",
    "Earnings",
    "Energy | Oil",
    "Financials",
    "Currencies",
    "General News | Opinion",
    "Gold | Metals | Materials",
    "IPO",
    "Legal | Regulation",
    "M&A | Investments",
    "Macro",
    "Markets",
    "Politics",
    "Personnel Change",
    "Stock Commentary",
    "Stock Movement",
)

_SENTIMENT_ALIASES = {
    "negative": "negative", "neg": "negative", "bearish": "negative",
    "neutral": "neutral", "neu": "neutral",
    "positive": "positive", "pos": "positive", "bullish": "positive",
}  # fmt: skip


def canonical_sentiment(label: str) -> str | None:
    """'Bearish', 'NEG', 'negative' -> 'negative'; None when it is not a sentiment label."""
    return _SENTIMENT_ALIASES.get(label.strip().lower())


def is_sentiment_vocabulary(labels: list[str] | tuple[str, ...]) -> bool:
    """True when every label names a sentiment (as in ProsusAI/finbert's id2label)."""
    return bool(labels) and all(canonical_sentiment(label) for label in labels)
