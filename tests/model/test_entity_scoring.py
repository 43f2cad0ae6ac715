"""Per-company scoring through the one scoring seam: the entity head on marked (text, company) inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from finsent.model.classifier import load
from finsent.model.data import ENTITY_TASK, entity_input
from finsent.model.engine import Engine
from finsent.model.scoring import has_entity_head, score_entities, score_texts
from tests.utils.tiny_model import build_tiny_checkpoint


@pytest.fixture(scope="module")
def entity_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("entity") / "tiny", entity=True)


def test_scores_come_from_the_entity_head_on_the_marked_input(entity_model: Path) -> None:
    classifier = load(entity_model)
    text = "Tata Motors gains as Maruti slips"
    scored = score_entities(classifier, [(text, "Tata Motors"), (text, "Maruti")])
    logits = classifier.logits([entity_input(text, "Tata Motors"), entity_input(text, "Maruti")])[ENTITY_TASK]
    expected = [classifier.tasks[ENTITY_TASK][i] for i in logits.argmax(-1).tolist()]
    assert [label for label, _ in scored] == expected
    assert all(0.0 < p <= 1.0 for _, p in scored)
    engine = Engine.from_classifier(classifier, precision="fp32", runtime="torch", warmup=False)
    assert [label for label, _ in score_entities(engine, [(text, "Maruti")])] == expected[1:]


def test_sentence_predictions_leave_the_entity_head_out(entity_model: Path) -> None:
    (prediction,) = score_texts(load(entity_model), ["Maruti slips"])
    assert set(prediction.probabilities) == {"sentiment", "topic"}


def test_a_model_without_the_head_says_so(tiny_model_path: Path) -> None:
    classifier = load(tiny_model_path)
    assert not has_entity_head(classifier)
    with pytest.raises(ValueError, match="entity_sentiment"):
        score_entities(classifier, [("x", "y")])
    assert score_entities(classifier, []) == []
