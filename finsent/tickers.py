"""Map text to ticker symbols: cashtags (``$TSLA``) and a watchlist of company names and aliases.

One extraction for every path a text takes in (``finsent ingest run``, ``replay``, ``backfill`` and
the worker), so history and streamed text get the same tickers. It lives in the shared-contracts
package because the worker (``stream``) and the producers (``ingest``) may not import each other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from finsent.messages import NewsMessage
from finsent.settings import TickerSettings

__all__ = ["MAX_TICKERS", "TickerMatcher", "cashtags"]

MAX_TICKERS = 50  # the wire contract's limit
# '$' then a letter: '$5bn' is money, not a ticker. Suffixes cover BRK.B and StockTwits' BTC.X.
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,6}(?:[.\-][A-Za-z]{1,2})?)(?![\w])")


def cashtags(text: str) -> list[str]:
    """Upper-cased cashtags in order of first appearance."""
    return list(dict.fromkeys(m.group(1).upper() for m in _CASHTAG.finditer(text)))


class TickerMatcher:
    """Finds the tickers an item is about; built once from the configured watchlist."""

    def __init__(
        self, watchlist: Mapping[str, Iterable[str]] | None = None, *, match_symbols: bool = True
    ) -> None:
        self._alias_to_ticker: dict[str, str] = {}
        symbols: list[str] = []
        self._watch_symbols = symbols
        for ticker, aliases in (watchlist or {}).items():
            symbol = ticker.strip().lstrip("$").upper()
            symbols.append(symbol)
            for alias in aliases:
                if alias.strip():
                    self._alias_to_ticker[alias.strip().lower()] = symbol
        # Longest first, so 'Bank of America' wins over 'America' should both be aliases.
        names = sorted(self._alias_to_ticker, key=len, reverse=True)
        self._aliases = (
            re.compile(r"(?<!\w)(" + "|".join(re.escape(n) for n in names) + r")(?!\w)", re.IGNORECASE)
            if names
            else None
        )
        # Bare symbols only in capitals and of two letters or more: 'A' or 'it' would match prose.
        bare = sorted((s for s in symbols if len(s) >= 2), key=len, reverse=True)
        self._symbols = (
            re.compile(r"(?<![\w$])(" + "|".join(re.escape(s) for s in bare) + r")(?!\w)")
            if match_symbols and bare
            else None
        )

    @classmethod
    def from_settings(cls, settings: TickerSettings) -> TickerMatcher:
        """The matcher of the configured watchlist (``FINSENT_TICKERS_WATCHLIST`` or ``[tickers.watchlist]``)."""
        return cls(settings.watchlist, match_symbols=settings.match_symbols)

    def with_watchlist(self, watchlist: Mapping[str, Iterable[str]], *, match_symbols: bool) -> TickerMatcher:
        """A matcher of this watchlist and ``watchlist`` together (a sources file adds its own)."""
        merged: dict[str, list[str]] = {}
        for alias, ticker in self._alias_to_ticker.items():
            merged.setdefault(ticker, []).append(alias)
        for symbol in self._watch_symbols:
            merged.setdefault(symbol, [])
        for ticker, aliases in watchlist.items():
            merged.setdefault(ticker.strip().lstrip("$").upper(), []).extend(aliases)
        return TickerMatcher(merged, match_symbols=match_symbols)

    def mentions(self, text: str) -> dict[str, str]:
        """Each ticker mentioned in ``text`` and how the text first names it ('$TSLA', 'Tata Motors').

        The name is what a per-company sentiment reads as the company (``finsent.model.scoring``).
        Order: cashtags first, then watchlist names and symbols.
        """
        found: dict[str, str] = {}
        for m in _CASHTAG.finditer(text):
            found.setdefault(m.group(1).upper(), m.group(0))
        if self._aliases is not None:
            for m in self._aliases.finditer(text):
                found.setdefault(self._alias_to_ticker[m.group(1).lower()], m.group(1))
        if self._symbols is not None:
            for m in self._symbols.finditer(text):
                found.setdefault(m.group(1), m.group(1))
        return found

    def find(self, text: str) -> list[str]:
        """Tickers mentioned in ``text``: cashtags first, then watchlist names and symbols."""
        return list(self.mentions(text))

    def enrich(self, message: NewsMessage) -> NewsMessage:
        """The message with the tickers found in its text added after the ones it already carries."""
        merged = list(dict.fromkeys([*message.tickers, *self.find(message.text)]))[:MAX_TICKERS]
        if merged == message.tickers:
            return message
        # Re-validate rather than model_copy: the contract's ticker rules stay the only ones.
        return NewsMessage.model_validate({**message.model_dump(), "tickers": merged})
