"""Map text to ticker symbols: cashtags (``$TSLA``) and a watchlist of company names and aliases."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from finsent.messages import NewsMessage

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

    def find(self, text: str) -> list[str]:
        """Tickers mentioned in ``text``: cashtags first, then watchlist names and symbols."""
        found = cashtags(text)
        if self._aliases is not None:
            found.extend(self._alias_to_ticker[m.group(1).lower()] for m in self._aliases.finditer(text))
        if self._symbols is not None:
            found.extend(m.group(1) for m in self._symbols.finditer(text))
        return list(dict.fromkeys(found))

    def enrich(self, message: NewsMessage) -> NewsMessage:
        """The message with the tickers found in its text added after the ones it already carries."""
        merged = list(dict.fromkeys([*message.tickers, *self.find(message.text)]))[:MAX_TICKERS]
        if merged == message.tickers:
            return message
        # Re-validate rather than model_copy: the contract's ticker rules stay the only ones.
        return NewsMessage.model_validate({**message.model_dump(), "tickers": merged})
