"""The multi-task classifier: one pretrained encoder, one linear head per task.

Saved as an ordinary checkpoint directory: the encoder's ``config.json`` with a ``finsent``
block naming each head's labels, ``model.safetensors`` (encoder and heads), the tokenizer
files and a ``README.md`` model card.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig

__all__ = ["FINSENT_KEY", "MultiTaskModel", "is_multitask_checkpoint", "load_multitask", "save_multitask"]

FINSENT_KEY = "finsent"
WEIGHTS_NAME = "model.safetensors"


class MultiTaskModel(nn.Module):
    """Encoder + pooled representation + a classification head per task."""

    def __init__(
        self,
        encoder: nn.Module,
        tasks: dict[str, list[str]],
        *,
        pooling: str = "mean",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', not {pooling!r}")
        self.encoder = encoder
        self.tasks = {task: list(labels) for task, labels in tasks.items()}
        self.pooling = pooling
        hidden = int(encoder.config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({task: nn.Linear(hidden, len(labels)) for task, labels in tasks.items()})

    @property
    def config(self) -> PretrainedConfig:
        return self.encoder.config

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Logits for every task from one encoder pass."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra)
        pooled = self.dropout(self.pool(out.last_hidden_state, attention_mask))
        return {task: head(pooled) for task, head in self.heads.items()}


def is_multitask_checkpoint(path: str | Path) -> bool:
    config = Path(path) / "config.json"
    if not config.is_file():
        return False
    return FINSENT_KEY in json.loads(config.read_text())


def save_multitask(
    model: MultiTaskModel,
    tokenizer: Any,
    path: str | Path,
    *,
    version: str,
    extra: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write config, weights (optionally cast, e.g. fp16) and tokenizer to ``path``."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    config = model.config.to_dict()
    config[FINSENT_KEY] = {
        "tasks": model.tasks,
        "pooling": model.pooling,
        "version": version,
        **(extra or {}),
    }
    config.pop("_name_or_path", None)
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / WEIGHTS_NAME), metadata={"format": "pt"})
    tokenizer.save_pretrained(out)
    return out


def load_multitask(path: str | Path) -> tuple[MultiTaskModel, dict[str, Any]]:
    """Rebuild a saved multi-task model in fp32; returns the model and its ``finsent`` block."""
    src = Path(path)
    raw = json.loads((src / "config.json").read_text())
    meta = raw.pop(FINSENT_KEY)
    config = AutoConfig.for_model(**{k: v for k, v in raw.items() if k != "model_type"}, model_type=raw["model_type"])
    encoder = AutoModel.from_config(config, add_pooling_layer=False) if raw["model_type"] == "bert" else AutoModel.from_config(config)
    model = MultiTaskModel(encoder, meta["tasks"], pooling=meta.get("pooling", "mean"))
    state = load_file(str(src / WEIGHTS_NAME))
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Position-id buffers differ between transformers versions; anything else missing is a broken checkpoint.
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"checkpoint {src} does not match its config: missing={missing[:5]} unexpected={unexpected[:5]}")
    model.eval()
    return model, meta
