"""Temperature scaling: fitted on validation, folded into the head, stored in the checkpoint, applied everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from finsent.model.calibration import ece_noise_floor, expected_calibration_error, fit_temperature, fold_temperature
from finsent.model.classifier import load
from finsent.model.train import main
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
