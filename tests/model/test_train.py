"""``finsent train`` end to end on a tiny base: it learns, saves a loadable fp16 checkpoint, resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from finsent.model.classifier import load
from finsent.model.data import dedup_against, read_examples
from finsent.model.train import class_weights, main
from finsent.model.train_args import parse_args
from tests.utils.model_data import train_argv


_argv = train_argv


def test_training_learns_and_writes_a_loadable_checkpoint(
    tiny_base: Path, data_dir: Path, tmp_path: Path
) -> None:
    result = main(
        _argv(tiny_base, data_dir, tmp_path, "--num_train_epochs", "6", "--early_stopping_patience", "0")
    )
    out = tmp_path / "model"
    # The keyword data is easy: a tiny model learns it; chance would be ~0.33 macro-F1.
    assert result.reports["sentiment"].macro_f1 >= 0.8
    assert result.reports["topic"].macro_f1 >= 0.8
    # Validation rows that repeat a training row (3 planted, more by chance) were not scored.
    train, val = (read_examples(data_dir / f, "sentiment") for f in ("sent_train.csv", "sent_val.csv"))
    assert result.reports["sentiment"].n == len(dedup_against(val, train)) <= len(val) - 3
    # Validation gets better as training goes on.
    first, last = result.history[0]["metric"], max(h["metric"] for h in result.history)
    assert last > first
    weights = load_file(str(out / "model.safetensors"))
    assert {t.dtype for t in weights.values() if t.is_floating_point()} == {torch.float16}
    card = (out / "README.md").read_text()
    assert "MIT" in card and "zeroshot/twitter-financial-news-sentiment" in card and "weighted F1" in card
    # The card names every head the checkpoint has (here two).
    assert "feeds 2 linear heads, **sentiment** and **topic**" in card
    config = json.loads((out / "config.json").read_text())["finsent"]
    assert config["tasks"]["sentiment"] == ["negative", "neutral", "positive"]
    assert config["evaluation"]["sentiment"]["macro_f1"] == pytest.approx(
        result.reports["sentiment"].macro_f1
    )
    # The saved artefact is what the worker loads; it scores a new text sensibly.
    classifier = load(out, device="cpu")
    assert classifier.predict(["Intel plunges https://t.co/zz"])[0].sentiment == "negative"


def test_resume_continues_from_the_saved_step(tiny_base: Path, data_dir: Path, tmp_path: Path) -> None:
    common = (
        "--save_steps",
        "5",
        "--eval_steps",
        "5",
        "--early_stopping_patience",
        "0",
        "--overwrite_output_dir",
    )
    first = main(_argv(tiny_base, data_dir, tmp_path, "--max_steps", "10", *common))
    assert [h["step"] for h in first.history] == [5, 10]
    state = torch.load(tmp_path / "ckpt" / "last" / "state.pt", weights_only=False)
    assert state["trainer"]["global_step"] == 10
    resumed = main(
        _argv(tiny_base, data_dir, tmp_path, "--max_steps", "15", "--resume_from_checkpoint", "auto", *common)
    )
    # The history goes on from step 10 instead of starting again.
    assert [h["step"] for h in resumed.history] == [5, 10, 15]


def test_lora_trains_and_saves_a_merged_plain_checkpoint(
    tiny_base: Path, data_dir: Path, tmp_path: Path
) -> None:
    main(
        _argv(
            tiny_base,
            data_dir,
            tmp_path,
            "--peft",
            "lora",
            "--lora_target_modules",
            "query,value",
            "--max_steps",
            "4",
        )
    )
    keys = load_file(str(tmp_path / "model" / "model.safetensors")).keys()
    assert not [k for k in keys if "lora" in k]
    assert load(tmp_path / "model", device="cpu").predict(["Ford says"])[0].topic is not None


def test_args_file_is_overridden_by_flags_and_bad_values_fail_early(tmp_path: Path, data_dir: Path) -> None:
    args_file = tmp_path / "args.json"
    args_file.write_text(
        json.dumps(
            {
                "sentiment_train": str(data_dir / "sent_train.csv"),
                "output_dir": str(tmp_path / "o"),
                "learning_rate": 1e-5,
            }
        )
    )
    m, d, f = parse_args(["--args-file", str(args_file), "--learning_rate", "2e-4"])
    assert f.learning_rate == 2e-4 and d.sentiment_train.endswith("sent_train.csv") and m.pooling == "mean"
    assert f.checkpoint_dir == str(Path("var/train/o"))
    with pytest.raises(ValueError, match="pooling"):
        parse_args(["--args-file", str(args_file), "--pooling", "max"])
    with pytest.raises(ValueError, match="at least one"):
        parse_args(["--output_dir", "x"])
    args_file.write_text(json.dumps({"output_dir": "o", "learning_rat": 1}))
    with pytest.raises(ValueError, match="learning_rat"):
        parse_args(["--args-file", str(args_file)])


def test_class_weights_follow_inverse_frequency() -> None:
    w = class_weights([0] * 8 + [1] * 2, 3, power=1.0)
    assert w[1] / w[0] == pytest.approx(4.0)
    assert (w[0] * 8 + w[1] * 2) / 10 == pytest.approx(1.0)
    assert w[2] == 0.0
    assert torch.equal(class_weights([0, 1, 1], 2, power=0.0), torch.ones(2))


def test_a_task_can_override_the_class_weight_power() -> None:
    from finsent.model.card import _train_table
    from finsent.model.train import _weight_power
    from finsent.model.train_args import FinetuneArguments

    f = FinetuneArguments(output_dir="o", class_weight_power=0.5, sentiment_class_weight_power=0.0)
    assert _weight_power(f, "sentiment") == 0.0
    assert _weight_power(f, "topic") == 0.5
    card = _train_table({"train_args": vars(f)})
    assert "sentiment ^0.0, topic ^0.5" in card


def test_train_help_lists_the_dataclass_arguments() -> None:
    from typer.testing import CliRunner

    from finsent.cli import app

    result = CliRunner().invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    for flag in (
        "--args-file",
        "--learning_rate",
        "--peft",
        "--early_stopping_patience",
        "--gradient_accumulation_steps",
    ):
        assert flag in result.output
    assert "Class weights" in result.output


def test_freeze_embeddings_freezes_only_the_word_embeddings(tiny_base: Path, data_dir: Path) -> None:
    from finsent.model.train import build_model, load_tasks

    margs, dargs, _ = parse_args(
        [
            "--base_model",
            str(tiny_base),
            "--topic_train",
            str(data_dir / "topic_train.csv"),
            "--output_dir",
            "x",
        ]
    )
    model, _ = build_model(margs, load_tasks(dargs))
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen == ["encoder.embeddings.word_embeddings.weight"]
