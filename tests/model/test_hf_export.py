"""A pooler-pooled finsent checkpoint is a standard transformers sequence-classification checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, pipeline

from finsent.model.classifier import load
from finsent.model.train import main
from tests.utils.model_data import train_argv as _argv

TEXTS = [
    "Apple soars as record profit beats estimates",
    "Tesla plunges after heavy loss",
    "Ford files quarterly earnings report",
    "Exxon reports crude oil output",
]


@pytest.fixture(scope="module")
def pooled(tiny_base: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pooled")
    main(_argv(tiny_base, data_dir, out, "--pooling", "pooler", "--num_train_epochs", "4", "--early_stopping_patience", "0"))
    return out / "model"


def test_the_directory_declares_a_standard_head(pooled: Path) -> None:
    config = json.loads((pooled / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert config["label2id"] == {"negative": 0, "neutral": 1, "positive": 2}
    weights = load_file(str(pooled / "model.safetensors"))
    assert config["dtype"] == "float16" and {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.float16}
    assert "classifier.weight" in weights and "bert.pooler.dense.weight" in weights and "heads.topic.weight" in weights


def test_pipeline_loads_it_with_no_finsent_code_and_agrees(pooled: Path) -> None:
    ours = load(pooled).predict(TEXTS)
    theirs = pipeline("text-classification", model=str(pooled), device="cpu")(TEXTS)
    assert [p["label"] for p in theirs] == [p.sentiment for p in ours]
    for mine, hf in zip(ours, theirs, strict=True):
        assert hf["score"] == pytest.approx(mine.sentiment_score, abs=2e-3)  # fp16 weights, both computed in fp32


def test_automodel_loads_the_trained_encoder_not_a_random_one(pooled: Path) -> None:
    encoder = AutoModel.from_pretrained(str(pooled))
    stored = load_file(str(pooled / "model.safetensors"))
    assert torch.allclose(
        encoder.embeddings.word_embeddings.weight.float(), stored["bert.embeddings.word_embeddings.weight"].float()
    )
    assert torch.allclose(encoder.pooler.dense.weight.float(), stored["bert.pooler.dense.weight"].float())


def test_the_topic_head_exports_as_its_own_standard_checkpoint(pooled: Path, tmp_path: Path) -> None:
    from finsent.model.export import export_standard

    out = export_standard(pooled, "topic", tmp_path / "topic")
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"] and len(config["id2label"]) == 20
    ours = load(pooled).predict(TEXTS)
    theirs = pipeline("text-classification", model=str(out), device="cpu")(TEXTS)
    assert [p["label"] for p in theirs] == [p.topic for p in ours]
    assert [round(p["score"], 2) for p in theirs] == pytest.approx([round(p.topic_score, 2) for p in ours], abs=0.011)


def test_a_mean_pooled_checkpoint_says_why_it_cannot_export(tiny_model_path: Path, tmp_path: Path) -> None:
    from finsent.model.export import export_standard

    with pytest.raises(ValueError, match="pooling pooler"):
        export_standard(tiny_model_path, "sentiment", tmp_path / "x")


def test_finsent_export_hf_writes_the_topic_head(pooled: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "finsent.cli", "export-hf", str(pooled), str(tmp_path / "t"), "--task", "topic"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "t" / "config.json").read_text())["id2label"]["11"] == "IPO"
    refused = subprocess.run(
        [sys.executable, "-m", "finsent.cli", "export-hf", str(pooled), str(tmp_path / "u"), "--task", "nope"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 2 and "no 'nope' head" in refused.stderr and "Traceback" not in refused.stderr
