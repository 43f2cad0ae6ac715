"""Alertmanager-style label matchers: ``ticker="ACME"``, ``severity!="info"``, ``scope=~"A.*"``, ``topic!~"Fed.*"``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["Matcher", "matches_all", "parse_matcher"]

_SYNTAX = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*
        (?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^"\s][^"]*?))?\s*$""",
    re.VERBOSE,
)
_OPS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True)
class Matcher:
    """One condition on one label; a missing label reads as the empty string, as in Alertmanager."""

    name: str
    op: str
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"unknown matcher operator {self.op!r}")
        if self.op in ("=~", "!~"):
            try:
                # Anchored, like Alertmanager: "AC" does not match "ACME"; write "AC.*".
                object.__setattr__(self, "_regex", re.compile(f"(?:{self.value})\\Z"))
            except re.error as exc:
                raise ValueError(f"bad regular expression in matcher {self}: {exc}") from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the labels satisfy this matcher."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._regex is not None  # set in __post_init__ for regex operators
        found = self._regex.match(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def parse_matcher(text: str) -> Matcher:
    """Parse ``name op "value"`` (quotes optional when the value has no spaces); ValueError when malformed."""
    found = _SYNTAX.match(text)
    if not found:
        raise ValueError(f'not a matcher: {text!r} (expected e.g. ticker="ACME" or severity=~"warning|critical")')
    quoted = found.group("quoted")
    value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else (found.group("bare") or "")
    return Matcher(found.group("name"), found.group("op"), value)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches (so an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)
