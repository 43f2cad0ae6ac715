"""The benchmark's two rates run, and the exported HF head is the same model as the multi-task head."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from finsent.bench.engine import Spread, engine_rate, naive_baseline, repeated, tuned_script_rate
from finsent.bench.throughput import format_report, run_throughput
from finsent.settings import Settings
from finsent.model.classifier import load
from finsent.model.export import export_head

TEXTS = ["Apple beats estimates", "Fed holds rates steady as inflation cools", "Oil tumbles"]


def test_exported_head_gives_the_multitask_logits(tiny_model_path: Path) -> None:
    classifier = load(tiny_model_path, device="cpu")
    reference = classifier.logits(TEXTS)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_path))
    for task in ("sentiment", "topic"):
        exported = export_head(tiny_model_path, task)
        assert [exported.config.id2label[i] for i in range(exported.config.num_labels)] == classifier.tasks[
            task
        ]
        with torch.no_grad():
            for i, text in enumerate(TEXTS):
                logits = exported(**tokenizer([text], return_tensors="pt")).logits[0]
                torch.testing.assert_close(logits, reference[task][i], atol=1e-5, rtol=1e-4)


def test_naive_and_engine_rates_are_positive(tiny_model_path: Path) -> None:
    assert naive_baseline(TEXTS, tiny_model_path) > 0
    assert engine_rate(TEXTS * 10, tiny_model_path, device="cpu", threads=1) > 0


def test_the_tuned_script_scores_both_heads(tiny_model_path: Path) -> None:
    assert tuned_script_rate(TEXTS * 5, tiny_model_path, batch_size=4) > 0
    with pytest.raises(ValueError):
        tuned_script_rate([], tiny_model_path)


def test_repeated_reports_median_and_spread() -> None:
    values = iter([3.0, 1.0, 2.0])
    spread = repeated(lambda: next(values), 3)
    assert (spread.median, spread.low, spread.high) == (2.0, 1.0, 3.0)
    assert Spread((5.0,)).to_dict() == {"median": 5.0, "min": 5.0, "max": 5.0, "runs": [5.0]}
    with pytest.raises(ValueError):
        repeated(lambda: 1.0, 0)


def test_bench_repeats_every_row_and_prints_the_ratios(tiny_model_path: Path, tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path))
    report = run_throughput(
        settings, messages=20, sample=20, naive_sample=5, model=str(tiny_model_path), end_to_end=False, repeat=2
    )
    for name in ("naive", "tuned", "engine", "engine_torch_fp32"):
        runs = report["spread"][name]["runs"]
        assert len(runs) == 2 and all(v > 0 for v in runs)
        assert report[f"{name}_texts_per_s"] == report["spread"][name]["median"]
    assert report["engine_vs_tuned"] == pytest.approx(report["engine_texts_per_s"] / report["tuned_texts_per_s"])
    table = format_report(report)
    assert "tuned script" in table and "engine / tuned" in table and "n=2" in table
    # The ceiling row: the measured matmul rate over the sample's work, and the engine's share of it.
    ceiling = report["roofline"]
    assert ceiling["ceiling_texts_per_s"] > 0 and ceiling["gflop_per_text"] > 0
    assert report["engine_vs_ceiling"] == pytest.approx(report["engine_texts_per_s"] / ceiling["ceiling_texts_per_s"])
    assert "ceiling: " in table and "engine / ceiling" in table
