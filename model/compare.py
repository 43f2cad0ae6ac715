"""Two checkpoints side by side, from their cards: which one to ship, by the rule that picks epochs.

Training writes each checkpoint's validation (and held-out test) reports and its calibration into
``config.json`` under ``finsent``; this reads two of them and lines them up per head and domain.
The verdict uses validation only (:func:`~finsent.model.metrics.selection_score`, the rule that
selected each run's epoch), so choosing between runs never reads the test split; ``split="test"``
shows the test numbers once the choice is made, for the card. The release bars are the product's
quality targets; a row says whether each checkpoint clears them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finsent.model.metrics import selection_score

__all__ = ["BARS", "Bar", "Comparison", "Row", "bar_for", "card_of", "compare", "format_comparison", "judge"]


@dataclass(frozen=True)
class Bar:
    """A release bar: ``metric`` of report ``key`` must reach ``at_least`` (or stay at or below ``at_most``)."""

    key: str
    metric: str
    at_least: float | None = None
    at_most: float | None = None

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        if self.at_least is not None and value < self.at_least:
            return False
        return not (self.at_most is not None and value > self.at_most)


# Tweets, news and topic bars, and calibration on every head and domain large enough to measure it
# (a set whose calibrated-model ECE floor is above the bar cannot show it met, see ``ece_floor_95``).
BARS: tuple[Bar, ...] = (
    Bar("sentiment", "weighted_f1", at_least=0.90),
    Bar("sentiment@news", "weighted_f1", at_least=0.85),
    Bar("sentiment@news", "positive_recall", at_least=0.80),
    Bar("topic", "macro_f1", at_least=0.88),
    Bar("*", "ece", at_most=0.03),
)


@dataclass(frozen=True)
class Row:
    key: str  # report key (``sentiment``, ``sentiment@finentity``) or ``ece task split:domain``
    metric: str
    a: float | None
    b: float | None
    floor: float | None = None  # for ECE rows: the larger of the two checkpoints' noise floors

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True)
class Comparison:
    a_version: str
    b_version: str
    split: str
    rows: list[Row]
    a_score: float  # selection score, validation only, whatever ``split`` shows
    b_score: float

    @property
    def b_better(self) -> bool:
        return self.b_score > self.a_score

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a_version,
            "b": self.b_version,
            "split": self.split,
            "selection_score": {"a": self.a_score, "b": self.b_score},
            "b_better": self.b_better,
            "rows": [r.__dict__ | {"delta": r.delta} for r in self.rows],
        }


def card_of(path: str | Path) -> dict[str, Any]:
    """The ``finsent`` block of a checkpoint directory's config.json (ValueError when it has none)."""
    config = Path(path) / "config.json"
    if not config.is_file():
        raise ValueError(f"{path} is not a checkpoint directory (no config.json)")
    card = json.loads(config.read_text()).get("finsent")
    if not isinstance(card, dict) or "evaluation" not in card:
        raise ValueError(f"{config} has no finsent card with evaluation results (not trained by finsent train?)")
    return card


def _reports(card: Mapping[str, Any], split: str) -> Mapping[str, Mapping[str, Any]]:
    if split == "validation":
        return card.get("evaluation") or {}
    # Test reports cover the news domains; the held-out sets are keyed like validation's.
    return card.get("test_evaluation") or {}


def _metric(report: Mapping[str, Any] | None, metric: str) -> float | None:
    if report is None:
        return None
    if metric == "positive_recall":
        return next((c["recall"] for c in report.get("per_class", []) if c.get("label") == "positive"), None)
    value = report.get(metric)
    return None if value is None else float(value)


def _calibration(card: Mapping[str, Any], task: str) -> Mapping[str, Any]:
    return (card.get("calibration") or {}).get(task) or {}


def _ece(card: Mapping[str, Any], task: str, key: str, field: str = "ece_after") -> float | None:
    value = _calibration(card, task).get(field, {}).get(key)
    return None if value is None else float(value)


def compare(a: Mapping[str, Any], b: Mapping[str, Any], *, split: str = "validation") -> Comparison:
    """Every report key and calibration set either card has for ``split``, ``a`` against ``b``."""
    if split not in ("validation", "test"):
        raise ValueError(f"split must be validation or test, not {split!r}")
    ra, rb = _reports(a, split), _reports(b, split)
    rows: list[Row] = []
    for key in sorted(set(ra) | set(rb)):
        metrics = ["weighted_f1", "macro_f1"] + (["positive_recall"] if key.startswith("sentiment") else [])
        rows += [Row(key, m, _metric(ra.get(key), m), _metric(rb.get(key), m)) for m in metrics]
    tasks = sorted(set((a.get("calibration") or {})) | set((b.get("calibration") or {})))
    for task in tasks:
        keys = {k for card in (a, b) for k in _calibration(card, task).get("ece_after", {})}
        for key in sorted(k for k in keys if k.startswith(f"{split}:")):
            floors = [f for card in (a, b) if (f := _ece(card, task, key, "ece_floor_95")) is not None]
            rows.append(Row(f"{task} {key}", "ece", _ece(a, task, key), _ece(b, task, key), max(floors, default=None)))
    return Comparison(str(a.get("version", "a")), str(b.get("version", "b")), split, rows, _score(a), _score(b))


def _score(card: Mapping[str, Any]) -> float:
    return selection_score({k: float(r["macro_f1"]) for k, r in (card.get("evaluation") or {}).items()})


def bar_for(row: Row, bars: tuple[Bar, ...] = BARS) -> Bar | None:
    """The release bar a row is judged by, if any (ECE bars apply to every calibration row)."""
    for bar in bars:
        if bar.metric == row.metric and (bar.key == row.key or (bar.key == "*" and row.metric == "ece")):
            return bar
    return None


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def judge(bar: Bar | None, value: float | None, floor: float | None = None) -> str:
    """``ok``, ``NO``, ``n/a`` (the set is too small to show an ECE at the bar: its calibrated-model
    floor is above it) or empty (no bar, or no value)."""
    met = bar.met(value) if bar else None
    if bar is None or met is None:
        return ""
    if not met and bar.at_most is not None and floor is not None and floor > bar.at_most:
        return "n/a"
    return "ok" if met else "NO"


def _mark(bar: Bar | None, value: float | None, floor: float | None) -> str:
    verdict = judge(bar, value, floor)
    return f" {verdict}" if verdict else ""


def format_comparison(c: Comparison) -> str:
    """A fixed-width table: a, b, b - a, and whether each clears its release bar."""
    width = max([len(r.key) for r in c.rows] + [10])
    lines = [
        f"a = {c.a_version}, b = {c.b_version}; {c.split} split",
        f"{'report':<{width}}  {'metric':<15}  {'a':>10}  {'b':>10}  {'b - a':>7}  bar",
    ]
    for r in c.rows:
        bar = bar_for(r)
        delta = "-" if r.delta is None else f"{r.delta:+.4f}"
        limit = "" if bar is None else (f">= {bar.at_least}" if bar.at_least is not None else f"<= {bar.at_most}")
        if r.floor is not None:
            limit += f" (calibrated-model floor {r.floor:.4f})"
        lines.append(
            f"{r.key:<{width}}  {r.metric:<15}  {_cell(r.a) + _mark(bar, r.a, r.floor):>10}  {_cell(r.b) + _mark(bar, r.b, r.floor):>10}"
            f"  {delta:>7}  {limit}".rstrip()
        )
    verdict = "b" if c.b_better else "a"
    lines += [
        "",
        f"selection score (mean validation macro-F1 per head, then over heads): a {c.a_score:.4f}, "
        f"b {c.b_score:.4f}: ship {verdict}",
    ]
    return "\n".join(lines)
