"""Distillation: soft targets of a teacher, cached, teach a student both heads, unlabelled texts included."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from finsent.model.distill import SoftTargetsError, kd_loss, read_soft_targets, teacher_logits
from finsent.model.train import main
from tests.utils.model_data import sentiment_rows, topic_rows
from tests.utils.model_data import train_argv as _argv


@pytest.fixture(scope="module")
def teacher(tiny_base: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("teacher")
    main(_argv(tiny_base, data_dir, out, "--num_train_epochs", "6", "--early_stopping_patience", "0"))
    return out / "model"


def test_kd_loss_is_zero_for_the_teachers_own_logits_and_scales_with_t_squared() -> None:
    teacher = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]])
    assert torch.allclose(kd_loss(teacher, teacher, 2.0), torch.zeros(2), atol=1e-6)
    student = torch.zeros(2, 3)
    assert (kd_loss(student, teacher, 1.0) > 0).all()
    # Softer targets, smaller KL, but the T^2 factor keeps the loss in the same range.
    assert 0.1 < (kd_loss(student, teacher, 4.0) / kd_loss(student, teacher, 1.0)).min() < 4.0


def test_teacher_logits_are_cached_and_resumable(teacher: Path, tmp_path: Path) -> None:
    texts = [t for t, _ in sentiment_rows(40, 9)]
    first = teacher_logits(teacher, texts, cache_dir=tmp_path, disable_progress=True)
    assert set(first) == {"sentiment", "topic"} and first["sentiment"].shape == (40, 3)
    cached = list(tmp_path.glob("teacher-logits-*.pt"))
    assert len(cached) == 1 and not list(tmp_path.glob("*.partial.pt"))
    again = teacher_logits(teacher, texts, cache_dir=tmp_path, disable_progress=True)
    assert torch.equal(first["topic"], again["topic"])


def test_published_soft_targets_stand_in_for_the_teachers_weights(teacher: Path, tmp_path: Path) -> None:
    texts = [t for t, _ in sentiment_rows(30, 5)] + [t for t, _ in topic_rows(30, 6)]
    published = tmp_path / "soft-targets.pt"
    card = {"version": "teacher-test", "train_seconds": 12.5}
    computed = teacher_logits(
        teacher, texts, cache_dir=tmp_path / "cache", disable_progress=True, soft_targets=published, teacher_card=card
    )
    assert published.is_file()
    # A teacher directory without weights (its card only, as committed): the logits come from the file,
    # in the asked order, repeats included, to float16 precision.
    card_only = tmp_path / "card-only"
    card_only.mkdir()
    (card_only / "config.json").write_text((teacher / "config.json").read_text())
    order = texts[::-1] + texts[:3]
    read = teacher_logits(card_only, order, cache_dir=tmp_path / "unused", soft_targets=published)
    for task in ("sentiment", "topic"):
        expected = torch.cat([computed[task].flip(0), computed[task][:3]])
        assert torch.allclose(read[task], expected, atol=2e-2, rtol=1e-2)
    assert not (tmp_path / "unused").exists()  # nothing was computed


def test_published_soft_targets_refuse_what_they_cannot_serve(teacher: Path, tmp_path: Path) -> None:
    texts = [t for t, _ in sentiment_rows(10, 7)]
    published = tmp_path / "soft-targets.pt"
    teacher_logits(teacher, texts, cache_dir=tmp_path, disable_progress=True, soft_targets=published)
    with pytest.raises(SoftTargetsError, match="lacks the teacher's logits for 1 of 11 texts"):
        read_soft_targets(published, texts + ["a text the teacher never scored"], max_length=128)
    with pytest.raises(SoftTargetsError, match="at 128 tokens, this run asks for 64"):
        read_soft_targets(published, texts, max_length=64)
    with pytest.raises(SoftTargetsError, match="no teacher weights"):
        teacher_logits(tmp_path / "nowhere", texts, cache_dir=tmp_path, soft_targets=tmp_path / "absent.pt")


def test_a_student_learns_from_soft_targets_alone(
    teacher: Path, tiny_base: Path, data_dir: Path, tmp_path: Path
) -> None:
    # alpha = 1: the hard labels are ignored, so whatever the student gets right it learned from the teacher;
    # the unlabelled file's texts (labels dropped) enter the pool too.
    unlabelled = tmp_path / "extra" / "unlabelled.csv"
    unlabelled.parent.mkdir()
    with unlabelled.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(sentiment_rows(60, 11, ["Amazon", "Meta"]) + topic_rows(60, 12, ["Amazon", "Meta"]))
    result = main(
        _argv(
            tiny_base, data_dir, tmp_path,
            "--teacher", str(teacher), "--distill_alpha", "1.0", "--distill_temperature", "2.0",
            "--unlabelled", str(unlabelled), "--num_train_epochs", "6", "--early_stopping_patience", "0",
            "--teacher_soft_targets", str(tmp_path / "published" / "soft-targets.pt"),
        )
    )  # fmt: skip
    assert result.reports["sentiment"].macro_f1 >= 0.7
    assert result.reports["topic"].macro_f1 >= 0.7
    cache = list((tmp_path / "ckpt" / "teacher").glob("teacher-logits-*.pt"))
    assert len(cache) == 1
    logits = torch.load(cache[0])
    import json

    examples = json.loads((tmp_path / "model" / "config.json").read_text())["finsent"]["training"]["train_examples"]
    labelled = examples["sentiment"] + examples["topic"]
    # Both labelled corpora and the unlabelled file's new texts (the repeats of training texts left out).
    assert labelled < logits["sentiment"].shape[0] <= labelled + 120

    # Rebuilt from the published soft targets alone (the teacher's weights gone): the same pool, the
    # teacher's card carried over, and no teacher logits computed.
    again = main(
        _argv(
            tiny_base, data_dir, tmp_path / "again",
            "--teacher", str(tmp_path / "no-teacher-here"), "--distill_alpha", "1.0", "--distill_temperature", "2.0",
            "--unlabelled", str(unlabelled), "--num_train_epochs", "6", "--early_stopping_patience", "0",
            "--teacher_soft_targets", str(tmp_path / "published" / "soft-targets.pt"),
        )
    )  # fmt: skip
    assert again.reports["sentiment"].macro_f1 >= 0.7
    assert not list((tmp_path / "again" / "ckpt" / "teacher").glob("teacher-logits-*.pt"))
    training = json.loads((tmp_path / "again" / "model" / "config.json").read_text())["finsent"]["training"]
    first = json.loads((tmp_path / "model" / "config.json").read_text())["finsent"]["training"]
    assert training["teacher"]["version"] == first["teacher"]["version"] is not None
    assert training["stages"]["teacher soft targets"] == first["stages"]["teacher soft targets"]
