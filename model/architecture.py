"""The multi-task classifier: one pretrained encoder, one linear head per task.

Saved as an ordinary checkpoint directory: the encoder's ``config.json`` with a ``finsent``
block naming each head's labels, ``model.safetensors`` (encoder and heads), the tokenizer
files and a ``README.md`` model card.

With ``pooling="pooler"`` (the encoder's own [CLS] pooler, dense + tanh) the directory is at the
same time a standard ``BertForSequenceClassification`` checkpoint of its first head: the encoder's
weights under ``bert.``, that head under ``classifier.``, its ``id2label`` and ``architectures`` in
``config.json``, so ``transformers.pipeline("text-classification", model=DIR)`` runs it with no
finsent code. The other heads ride along under ``heads.`` (transformers ignores them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig

__all__ = [
    "FINSENT_KEY",
    "MultiTaskModel",
    "POOLINGS",
    "dtype_named",
    "is_multitask_checkpoint",
    "load_multitask",
    "save_multitask",
]

POOLINGS = ("mean", "cls", "pooler")
_DTYPE_NAMES = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32"}


def dtype_named(name: str | None) -> torch.dtype:
    """The torch dtype a config or ``--save_dtype`` names (float16, bfloat16; anything else float32)."""
    return {v: k for k, v in _DTYPE_NAMES.items()}.get(str(name), torch.float32)

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
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
        if pooling == "pooler" and getattr(encoder, "pooler", None) is None:
            raise ValueError("pooling 'pooler' needs an encoder built with its pooling layer")
        self.encoder = encoder
        self.tasks = {task: list(labels) for task, labels in tasks.items()}
        self.pooling = pooling
        hidden = int(encoder.config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({task: nn.Linear(hidden, len(labels)) for task, labels in tasks.items()})

    @property
    def config(self) -> PretrainedConfig:
        return self.encoder.config

    @property
    def primary_task(self) -> str:
        """The head a standard sequence-classification export carries: sentiment, when there is one."""
        return "sentiment" if "sentiment" in self.tasks else next(iter(self.tasks))

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
        if self.pooling == "pooler":
            pooled = self.dropout(out.pooler_output)
        else:
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
    state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    config["dtype"] = _DTYPE_NAMES.get(dtype or next(iter(model.parameters())).dtype, "float32")
    if model.pooling == "pooler":
        state = _standard_state(model, state)
        primary = model.tasks[model.primary_task]
        config[FINSENT_KEY]["layout"] = "sequence-classification"
        config[FINSENT_KEY]["primary_task"] = model.primary_task
        config.update(
            architectures=[_architecture(model)],
            id2label={str(i): label for i, label in enumerate(primary)},
            label2id={label: i for i, label in enumerate(primary)},
        )
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / WEIGHTS_NAME), metadata={"format": "pt"})
    tokenizer.save_pretrained(out)
    return out


def _architecture(model: MultiTaskModel) -> str:
    # BertModel -> BertForSequenceClassification, MPNetModel -> MPNetForSequenceClassification, ...
    return type(model.encoder).__name__.removesuffix("Model") + "ForSequenceClassification"


def _standard_state(model: MultiTaskModel, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys as a ``*ForSequenceClassification`` of the primary head has them; other heads under ``heads.``."""
    prefix = model.encoder.base_model_prefix
    primary = f"heads.{model.primary_task}."
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("encoder."):
            out[f"{prefix}.{key[len('encoder.'):]}"] = value
        elif key.startswith(primary):
            out[f"classifier.{key[len(primary):]}"] = value
        else:
            out[key] = value
    return out


def _internal_state(state: dict[str, torch.Tensor], *, prefix: str, primary: str) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(f"{prefix}."):
            out[f"encoder.{key[len(prefix) + 1:]}"] = value
        elif key.startswith("classifier."):
            out[f"heads.{primary}.{key[len('classifier.'):]}"] = value
        else:
            out[key] = value
    return out


def load_multitask(path: str | Path) -> tuple[MultiTaskModel, dict[str, Any]]:
    """Rebuild a saved multi-task model in fp32; returns the model and its ``finsent`` block."""
    src = Path(path)
    raw = json.loads((src / "config.json").read_text())
    meta = raw.pop(FINSENT_KEY)
    pooling = meta.get("pooling", "mean")
    # Rebuilt in fp32 whatever the stored weights' dtype (config.json records theirs).
    fields = {k: v for k, v in raw.items() if k not in ("model_type", "dtype", "torch_dtype")}
    config = AutoConfig.for_model(**fields, model_type=raw["model_type"])
    kwargs = {"add_pooling_layer": pooling == "pooler"} if raw["model_type"] == "bert" else {}
    encoder = AutoModel.from_config(config, **kwargs)
    model = MultiTaskModel(encoder, meta["tasks"], pooling=pooling)
    state = load_file(str(src / WEIGHTS_NAME))
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    if meta.get("layout") == "sequence-classification":
        state = _internal_state(state, prefix=encoder.base_model_prefix, primary=meta.get("primary_task", model.primary_task))
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Position-id buffers differ between transformers versions; anything else missing is a broken checkpoint.
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"checkpoint {src} does not match its config: missing={missing[:5]} unexpected={unexpected[:5]}")
    model.eval()
    return model, meta
