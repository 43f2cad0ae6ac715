"""Metric numbers on a small set, checked against values computed by hand (and sklearn's)."""

from __future__ import annotations

import pytest
from sklearn.metrics import f1_score

from finsent.model.metrics import classification_report, format_report

LABELS = ["negative", "neutral", "positive"]
# true:  neg neg neg neu neu neu neu pos pos pos
# pred:  neg neg neu neu neu neu pos pos pos neg
Y_TRUE = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
Y_PRED = [0, 0, 1, 1, 1, 1, 2, 2, 2, 0]


def test_per_class_macro_weighted_by_hand() -> None:
    r = classification_report(Y_TRUE, Y_PRED, LABELS, task="sentiment")
    neg, neu, pos = r.per_class
    # negative: tp 2, predicted 3, support 3 -> p 2/3, r 2/3, f1 2/3
    assert (neg.precision, neg.recall, neg.f1, neg.support) == pytest.approx((2 / 3, 2 / 3, 2 / 3, 3))
    # neutral: tp 3, predicted 4, support 4 -> p 3/4, r 3/4
    assert (neu.precision, neu.recall, neu.f1) == pytest.approx((0.75, 0.75, 0.75))
    # positive: tp 2, predicted 3, support 3
    assert pos.f1 == pytest.approx(2 / 3)
    assert r.accuracy == pytest.approx(0.7)
    assert r.macro_f1 == pytest.approx((2 / 3 + 0.75 + 2 / 3) / 3)
    assert r.weighted_f1 == pytest.approx((3 * 2 / 3 + 4 * 0.75 + 3 * 2 / 3) / 10)
    assert r.weighted_f1 == pytest.approx(f1_score(Y_TRUE, Y_PRED, average="weighted"))
    assert r.confusion == [[2, 1, 0], [0, 3, 1], [1, 0, 2]]


def test_never_predicted_class_scores_zero_not_nan() -> None:
    r = classification_report([0, 1, 2], [0, 0, 0], LABELS)
    assert [c.f1 for c in r.per_class] == [pytest.approx(0.5), 0.0, 0.0]
    assert r.macro_f1 == pytest.approx(f1_score([0, 1, 2], [0, 0, 0], average="macro", zero_division=0))


def test_absent_class_does_not_count_in_macro() -> None:
    r = classification_report([0, 0, 2], [0, 0, 2], LABELS)
    assert r.macro_f1 == 1.0 and r.per_class[1].support == 0


def test_text_report_lists_every_class_and_the_confusion_matrix() -> None:
    text = format_report(classification_report(Y_TRUE, Y_PRED, LABELS, task="sentiment"))
    assert "sentiment (n=10)" in text and "weighted F1   0.7000" in text
    assert "negative" in text.splitlines()[2] and "confusion" in text


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        classification_report([0], [0, 1], LABELS)
