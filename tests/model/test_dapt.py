"""Domain-adaptive pretraining: BERT masking, and a masked-LM pass that fine-tuning then starts from."""

from __future__ import annotations

from pathlib import Path

import torch

from finsent.model.dapt import mask_tokens
from finsent.model.train import main
from tests.utils.model_data import train_argv as _argv


def test_masking_follows_bert_and_never_touches_special_or_padding_tokens() -> None:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 2000, (64, 40))
    ids[:, 0], ids[:, 39] = 101, 102
    mask = torch.ones_like(ids)
    mask[:, 30:] = 0
    masked, labels = mask_tokens(ids, mask, mask_id=103, vocab_size=30522, special_ids=[101, 102], probability=0.15, generator=g)
    chosen = labels != -100
    assert not chosen[:, 0].any() and not chosen[:, 30:].any()
    assert 0.12 < chosen.float().sum() / mask[:, 1:30].sum() < 0.18
    assert torch.equal(labels[chosen], ids[chosen])
    share_masked = (masked[chosen] == 103).float().mean()
    assert 0.7 < share_masked < 0.9
    assert torch.equal(masked[~chosen], ids[~chosen])


def test_fine_tuning_starts_from_the_adapted_base(tiny_base: Path, data_dir: Path, tmp_path: Path) -> None:
    result = main(
        _argv(
            tiny_base, data_dir, tmp_path,
            "--dapt_files", str(data_dir / "sent_train.csv"), str(data_dir / "topic_train.csv"),
            "--dapt_epochs", "1", "--num_train_epochs", "2",
        )
    )  # fmt: skip
    adapted = tmp_path / "ckpt" / "dapt-base"
    assert (adapted / "config.json").is_file() and (adapted / "model.safetensors").is_file()
    assert result.reports["sentiment"].n > 0
