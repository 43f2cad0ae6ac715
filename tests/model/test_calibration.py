"""Temperature scaling: fitted on validation, folded into the head, stored in the checkpoint, applied everywhere."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch

from finsent.messages import NewsMessage
from finsent.model.calibration import (
    ece_noise_floor,
    expected_calibration_error,
    fit_temperature,
    fold_temperature,
    kind_powers,
    rescale,
)
from finsent.model.classifier import load
from finsent.model.recalibrate import recalibrate
from finsent.model.scoring import score_messages, score_texts
from finsent.model.train import main
from tests.utils.model_data import news_corpus
from tests.utils.model_data import train_argv as _argv


def _overconfident(n: int = 4000, scale: float = 3.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels drawn from softmax(base); the model reports scale * base, i.e. too sure of itself."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 3, generator=g) * 1.5
    labels = torch.multinomial(base.softmax(-1), 1, generator=g).squeeze(1)
    return base * scale, labels


def test_the_fitted_temperature_undoes_overconfidence_and_lowers_ece() -> None:
    logits, labels = _overconfident()
    temperature = fit_temperature(logits, labels)
    assert 2.5 < temperature < 3.5
    before = expected_calibration_error(logits.softmax(-1), labels)
    after = expected_calibration_error((logits / temperature).softmax(-1), labels)
    assert before > 0.1 and after < 0.03


def test_ece_of_a_perfectly_calibrated_predictor_is_small_and_of_a_liar_large() -> None:
    logits, labels = _overconfident(scale=1.0, seed=1)
    assert expected_calibration_error(logits.softmax(-1), labels) < 0.03
    confident_and_wrong = torch.tensor([[0.99, 0.005, 0.005]] * 100)
    assert expected_calibration_error(confident_and_wrong, torch.ones(100, dtype=torch.long)) > 0.9


def test_the_noise_floor_shrinks_with_the_set_and_bounds_a_calibrated_models_ece() -> None:
    small_logits, small_labels = _overconfident(n=112, scale=1.0, seed=2)
    large_logits, _ = _overconfident(n=4000, scale=1.0, seed=3)
    small, large = ece_noise_floor(small_logits.softmax(-1)), ece_noise_floor(large_logits.softmax(-1))
    # A calibrated model on 112 texts shows several hundredths of ECE from sampling alone; on 4,000 far less.
    assert small > 0.04 and large < 0.03 and small > 2 * large
    assert expected_calibration_error(small_logits.softmax(-1), small_labels) <= small
    # An overconfident model on a large set sits well above its floor.
    liar_logits, liar_labels = _overconfident(n=4000, scale=3.0, seed=4)
    assert expected_calibration_error(liar_logits.softmax(-1), liar_labels) > 3 * ece_noise_floor(liar_logits.softmax(-1))
    assert ece_noise_floor(torch.empty(0, 3)) == 0.0


def test_folding_divides_the_logits() -> None:
    head = torch.nn.Linear(4, 3)
    x = torch.randn(5, 4)
    before = head(x).detach()
    fold_temperature(head, 2.5)
    assert torch.allclose(head(x), before / 2.5, atol=1e-6)


def test_calibration_round_trip_through_a_trained_checkpoint(tiny_base: Path, data_dir: Path, tmp_path: Path) -> None:
    main(_argv(tiny_base, data_dir, tmp_path, "--num_train_epochs", "3", "--early_stopping_patience", "0"))
    meta = json.loads((tmp_path / "model" / "config.json").read_text())["finsent"]
    for task in ("sentiment", "topic"):
        entry = meta["calibration"][task]
        assert entry["folded"] and entry["temperature"] > 0 and entry["ece_bins"] == 15
        assert set(entry["ece_after"]) == set(entry["ece_before"])
    # The stored heads already produce calibrated logits: the unfolded logits are the stored ones times T.
    uncalibrated_dir = tmp_path / "raw"
    main(
        _argv(tiny_base, data_dir, uncalibrated_dir, "--num_train_epochs", "3", "--early_stopping_patience", "0", "--no_calibrate")
    )
    texts = ["Apple soars", "Tesla plunges https://t.co/x", "Ford files quarterly earnings"]
    calibrated = load(tmp_path / "model").logits(texts)["sentiment"]
    raw = load(uncalibrated_dir / "model").logits(texts)["sentiment"]
    temperature = meta["calibration"]["sentiment"]["temperature"]
    assert torch.allclose(calibrated * temperature, raw, atol=0.05 * raw.abs().max().item())
    assert torch.equal(calibrated.argmax(-1), raw.argmax(-1))


def test_rescaling_folded_probabilities_gives_another_temperatures_softmax() -> None:
    z = torch.randn(50, 3, generator=torch.Generator().manual_seed(5)) * 4
    folded, other = 0.93, 0.78
    for row in z:
        got = rescale((row / folded).softmax(-1).tolist(), folded / other)
        assert got == pytest.approx((row / other).softmax(-1).tolist(), abs=1e-6)
    assert rescale([0.2, 0.8, 0.0], 1.0) == [0.2, 0.8, 0.0]
    assert rescale([0.0, 1.0, 0.0], 3.0) == [0.0, 1.0, 0.0]  # zero stays zero, no overflow
    assert kind_powers({"sentiment": {"temperature": 0.9, "kind_temperatures": {"comment": 0.6}}, "topic": {"temperature": 0.7}}) == {
        "comment": {"sentiment": pytest.approx(1.5)}
    }


TEXTS = ["Apple soars", "Tesla plunges https://t.co/x", "Ford files quarterly earnings", "Company3 jumps w1 w2"]


@pytest.fixture(scope="module")
def per_kind(tiny_base: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model validated on comments (the primary tweet-like files) and on news (a second corpus)."""
    out = tmp_path_factory.mktemp("per-kind")
    news = news_corpus(out / "newsy")
    main(
        _argv(
            tiny_base, data_dir, out, "--sentiment_corpora", str(news), "--num_train_epochs", "3",
            "--early_stopping_patience", "0", "--calibration_comment_domains", data_dir.name,
        )
    )  # fmt: skip
    return out / "model"


def _card(path: Path) -> dict:
    return json.loads((path / "config.json").read_text())["finsent"]


def test_a_head_validated_on_comments_and_news_gets_a_temperature_per_kind(per_kind: Path, data_dir: Path) -> None:
    calibration = _card(per_kind)["calibration"]
    sentiment = calibration["sentiment"]
    comment, folded = sentiment["kind_temperatures"]["comment"], sentiment["temperature"]
    assert comment > 0 and folded > 0 and comment != folded
    assert sentiment["kinds"][f"validation:{data_dir.name}"] == "comment"
    assert sentiment["kinds"]["validation:newsy"] == sentiment["kinds"]["test:newsy"] == "news"
    assert "kind_temperatures" not in calibration["topic"]  # validated on one kind: one temperature
    # News (and a text of no kind) gets the folded head's scores; a comment the comment temperature's.
    model = load(per_kind)
    logits = model.logits(TEXTS)["sentiment"]
    news, plain = score_texts(model, TEXTS, kinds=["news"] * 4), score_texts(model, TEXTS)
    comments = score_texts(model, TEXTS, kinds=["comment"] * 4)
    for i, row in enumerate(logits):
        assert news[i] == plain[i]
        assert news[i].sentiment_score == pytest.approx(float(row.softmax(-1).max()), abs=1e-5)
        want = (row * folded / comment).softmax(-1)
        assert comments[i].sentiment == news[i].sentiment
        assert comments[i].sentiment_score == pytest.approx(float(want.max()), abs=1e-5)
        assert list(comments[i].probabilities["sentiment"].values()) == pytest.approx(want.tolist(), abs=2e-6)
        assert comments[i].topic_score == news[i].topic_score
    # The worker's path: a message's kind picks its calibration.
    at = datetime(2026, 1, 5, tzinfo=UTC)
    messages = [NewsMessage(source="t", kind=kind, title=TEXTS[0], published_at=at) for kind in ("news", "comment")]
    as_news, as_comment = score_messages(model, messages)
    assert as_news.sentiment_score == pytest.approx(news[0].sentiment_score)
    assert as_comment.sentiment_score == pytest.approx(comments[0].sentiment_score)


def test_recalibrating_a_checkpoint_refits_from_its_raw_logits(per_kind: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(per_kind, copy)
    before = _card(copy)["calibration"]["sentiment"]["temperature"]
    raw = load(copy).logits(TEXTS)["sentiment"] * before
    result = recalibrate(copy, version="tiny-2", comment_domains=[])  # no comment domain: one temperature
    card = _card(copy)
    entry = card["calibration"]["sentiment"]
    assert "kind_temperatures" not in entry and set(entry["kinds"].values()) == {"news"}
    assert result.before["sentiment"]["folded"] == before and result.after["sentiment"] == {"folded": entry["temperature"]}
    assert card["version"] == "tiny-2" and card["training"]["train_args"]["calibration_comment_domains"] == []
    # The old temperature was unfolded before the new one was folded: the raw logits are unchanged.
    after = load(copy).logits(TEXTS)["sentiment"] * entry["temperature"]
    assert torch.allclose(after, raw, atol=0.02 * raw.abs().max().item())
    assert torch.equal(after.argmax(-1), raw.argmax(-1))
    # The card and reports were written again from the recalibrated artefact.
    assert "tiny-2" in (copy / "README.md").read_text()
    assert card["evaluation"]["sentiment@newsy"]["n"] > 0
    with pytest.raises(ValueError, match="not a finsent checkpoint"):
        recalibrate(tmp_path)
