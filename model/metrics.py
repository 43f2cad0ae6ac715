"""Classification metrics: per-class precision/recall/F1, macro and weighted F1, accuracy, confusion matrix.

Pure functions over label indices, so the numbers can be checked by hand in tests; the weighted F1
is the FinGPT benchmark's metric (per-class F1 weighted by true support).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

__all__ = ["ClassMetrics", "Report", "classification_report", "format_report", "selection_score"]


@dataclass(frozen=True)
class ClassMetrics:
    """One class's scores; ``support`` is the number of true examples."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Report:
    """Everything a model card or ``finsent evaluate`` prints for one task."""

    task: str
    n: int
    accuracy: float
    macro_f1: float
    weighted_f1: float
    per_class: list[ClassMetrics]
    confusion: list[list[int]]  # rows = true label, columns = predicted label

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.per_class]

    def to_dict(self) -> dict[str, object]:
        return asdict(self) | {"labels": self.labels}


def _safe_div(a: float, b: float) -> float:
    # sklearn's zero_division=0: a class never predicted (or absent) scores 0, not NaN.
    return a / b if b else 0.0


def classification_report(
    y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str], *, task: str = ""
) -> Report:
    """Scores of ``y_pred`` against ``y_true`` (indices into ``labels``)."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    k = len(labels)
    confusion = [[0] * k for _ in range(k)]
    for t, p in zip(y_true, y_pred):
        confusion[t][p] += 1
    per_class: list[ClassMetrics] = []
    for c, label in enumerate(labels):
        tp = confusion[c][c]
        predicted = sum(confusion[r][c] for r in range(k))
        support = sum(confusion[c])
        precision = _safe_div(tp, predicted)
        recall = _safe_div(tp, support)
        per_class.append(
            ClassMetrics(
                label, precision, recall, _safe_div(2 * precision * recall, precision + recall), support
            )
        )
    n = len(y_true)
    present = [c for c in per_class if c.support > 0]
    return Report(
        task=task,
        n=n,
        accuracy=_safe_div(sum(confusion[c][c] for c in range(k)), n),
        # Macro over the classes that occur, as sklearn does when given only the observed labels.
        macro_f1=_safe_div(sum(c.f1 for c in present), len(present)),
        weighted_f1=_safe_div(sum(c.f1 * c.support for c in per_class), n),
        per_class=per_class,
        confusion=confusion,
    )


def selection_score(macro_f1: Mapping[str, float]) -> float:
    """Mean validation macro-F1 per head (keys ``task`` or ``task@domain``), then over the heads.

    The one rule that picks an epoch in training and a checkpoint between runs: macro-F1 so rare
    topics and classes count; averaged within each head first so tweets and news weigh alike, and
    the heads weigh alike. ``task@news`` (the news domains pooled) is left out: its parts are in.
    """
    per_task: dict[str, list[float]] = {}
    for key, value in macro_f1.items():
        if key.endswith("@news"):
            continue
        per_task.setdefault(key.split("@")[0], []).append(value)
    return sum(sum(v) / len(v) for v in per_task.values()) / len(per_task) if per_task else 0.0


def format_report(report: Report, *, confusion: bool = True) -> str:
    """A fixed-width text table, like sklearn's, plus the confusion matrix."""
    width = max([len(label) for label in report.labels] + [12])
    title = f"{report.task} (n={report.n})" if report.task else f"n={report.n}"
    lines = [title, f"{'':<{width}}  precision  recall  f1      support"]
    for c in report.per_class:
        lines.append(f"{c.label:<{width}}  {c.precision:9.4f}  {c.recall:6.4f}  {c.f1:6.4f}  {c.support:7d}")
    lines += [
        "",
        f"{'accuracy':<{width}}  {report.accuracy:.4f}",
        f"{'macro F1':<{width}}  {report.macro_f1:.4f}",
        f"{'weighted F1':<{width}}  {report.weighted_f1:.4f}",
    ]
    if confusion:
        short = [label[:6] for label in report.labels]
        lines += [
            "",
            "confusion (rows = true, columns = predicted)",
            f"{'':<{width}}  " + " ".join(f"{s:>6}" for s in short),
        ]
        for label, row in zip(report.labels, report.confusion):
            lines.append(f"{label:<{width}}  " + " ".join(f"{v:6d}" for v in row))
    return "\n".join(lines)
