"""Both checkpoint kinds load: finsent multi-task (exact round trip) and a plain HF one like FinBERT."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertForSequenceClassification

from finsent.model.architecture import load_multitask, save_multitask
from finsent.model.classifier import load
from tests.utils.tiny_model import build_plain_classifier

TEXTS = ["Apple beats estimates", "Fed holds rates steady", "Oil tumbles 5% on OPEC news", ""]


def test_multitask_round_trip_gives_identical_logits(tiny_model_path: Path, tmp_path: Path) -> None:
    model, meta = load_multitask(tiny_model_path)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_path))
    copy = save_multitask(model, tokenizer, tmp_path / "copy", version="copy")
    a = load(tiny_model_path, device="cpu").logits(TEXTS)
    b = load(copy, device="cpu").logits(TEXTS)
    for task in ("sentiment", "topic"):
        assert torch.equal(a[task], b[task])
    assert load(copy, device="cpu").tasks == meta["tasks"]


def test_fp16_save_loads_back_close_to_fp32(tiny_model_path: Path, tmp_path: Path) -> None:
    model, _ = load_multitask(tiny_model_path)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_path))
    half = save_multitask(model, tokenizer, tmp_path / "half", version="half", dtype=torch.float16)
    a = load(tiny_model_path, device="cpu").logits(TEXTS)
    b = load(half, device="cpu").logits(TEXTS)
    assert torch.allclose(a["topic"], b["topic"], atol=1e-2)


@pytest.fixture(scope="module")
def finbert_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny plain BertForSequenceClassification with ProsusAI/finbert's label order."""
    path = tmp_path_factory.mktemp("plain") / "finbert-like"
    return build_plain_classifier(path, ["positive", "negative", "neutral"], seed=3)


def test_plain_hf_sentiment_checkpoint_maps_its_id2label(finbert_like: Path) -> None:
    classifier = load(finbert_like, device="cpu")
    assert classifier.tasks == {"sentiment": ["positive", "negative", "neutral"]}
    hf = BertForSequenceClassification.from_pretrained(finbert_like).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(finbert_like))
    predictions = classifier.predict(TEXTS)
    for text, p in zip(TEXTS, predictions):
        with torch.no_grad():
            probs = torch.softmax(hf(**tokenizer([text], return_tensors="pt")).logits[0], -1)
        assert p.sentiment == ["positive", "negative", "neutral"][int(probs.argmax())]
        assert p.sentiment_score == pytest.approx(float(probs.max()), abs=1e-5)
        assert p.topic is None and p.topic_score is None


def test_plain_checkpoint_with_foreign_labels_becomes_a_topic_head(tmp_path: Path) -> None:
    build_plain_classifier(tmp_path / "m", ["Macro", "IPO"], layers=1)
    classifier = load(tmp_path / "m", device="cpu")
    assert classifier.tasks == {"topic": ["Macro", "IPO"]}
    assert classifier.predict(["x"])[0].topic in ("Macro", "IPO")


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope", device="cpu")
