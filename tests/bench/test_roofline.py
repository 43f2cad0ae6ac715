"""The bench's ceiling: the encoder's arithmetic counted from its config, the matmul rate measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finsent.bench.roofline import encoder_gflop, matmul_gflops, roofline

MINILM = {"hidden_size": 384, "intermediate_size": 1536, "num_hidden_layers": 6}


def test_encoder_work_is_counted_from_the_config() -> None:
    # MiniLM-L6 at 32 tokens: 6 layers x (2 x 32 x (4 x 384^2 + 2 x 384 x 1536) + 4 x 32^2 x 384).
    assert encoder_gflop(MINILM, 32) == pytest.approx(6 * (2 * 32 * 1_769_472 + 4 * 1024 * 384) / 1e9)
    assert encoder_gflop(MINILM, 32) == pytest.approx(0.689, abs=1e-3)
    # Projections grow linearly with the tokens, attention quadratically: doubling costs a bit more than 2x.
    assert 2.0 < encoder_gflop(MINILM, 64) / encoder_gflop(MINILM, 32) < 2.1
    deeper = {**MINILM, "num_hidden_layers": 12}
    assert encoder_gflop(deeper, 32) == pytest.approx(2 * encoder_gflop(MINILM, 32))


def test_the_matmul_rate_is_measured_not_assumed() -> None:
    rate = matmul_gflops("fp32", threads=1, n=256)
    assert 0.1 < rate < 100_000


def test_the_ceiling_is_the_measured_rate_over_the_samples_work(tiny_model_path: Path) -> None:
    texts = ["Apple beats estimates", "Fed holds rates steady as inflation cools and markets rally hard"]
    c = roofline(tiny_model_path, texts, precision="fp32", threads=1)
    config = json.loads((tiny_model_path / "config.json").read_text())
    assert c.mean_tokens > 4 and c.peak_precision == "fp32"
    # Real token counts: the mean of the two texts' work lies between the shorter's and the longer's.
    assert encoder_gflop(config, 4) < c.gflop_per_text < encoder_gflop(config, 40)
    assert c.ceiling_texts_per_s == pytest.approx(c.peak_gflops / c.gflop_per_text)
    assert roofline(tiny_model_path, texts, precision="int8", threads=1).peak_precision == "fp32"
    with pytest.raises(ValueError):
        roofline(tiny_model_path, [], precision="fp32")
