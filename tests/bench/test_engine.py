"""The benchmark's two rates run, and the exported HF head is the same model as the multi-task head."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer

from finsent.bench.engine import engine_rate, naive_baseline
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
