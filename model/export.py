"""One head of a multi-task checkpoint as a stand-alone Hugging Face sequence classifier.

A pooler-pooled checkpoint (the shipped one) exports as the standard ``*ForSequenceClassification``
of its encoder: no finsent code runs it. A mean-pooled one has no standard class (those classify from
the [CLS] pooler), so it exports as :class:`MeanPoolClassifier`, a small ``PreTrainedModel`` that does
exactly what the multi-task model does for that head. Either way ``transformers.pipeline`` runs it like
any classifier: it is what a user without finsent's engine would run, and the benchmark's naive baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoModel, BertConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from finsent.model.architecture import dtype_named, load_multitask

__all__ = ["MeanPoolClassifier", "export_head", "export_standard"]


class MeanPoolClassifier(PreTrainedModel):
    """Encoder + mean pooling + one linear head, as a HF sequence-classification model."""

    config_class = BertConfig
    base_model_prefix = "encoder"

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.encoder = AutoModel.from_config(config, add_pooling_layer=False)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any
    ) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        kwargs = {k: v for k, v in kwargs.items() if k == "token_type_ids"}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return SequenceClassifierOutput(logits=self.classifier(pooled))


def export_head(checkpoint: str | Path, task: str) -> PreTrainedModel:
    """The ``task`` head of a finsent checkpoint as an fp32 HF sequence-classification model with its ``id2label``."""
    model, _ = load_multitask(checkpoint)
    if task not in model.tasks:
        raise ValueError(f"{checkpoint} has no {task!r} head (it has {sorted(model.tasks)})")
    if model.pooling == "pooler":
        return _standard(model, task).eval()
    if model.pooling != "mean":
        raise ValueError(f"{model.pooling} pooling has no sequence-classification export")
    labels = model.tasks[task]
    config = BertConfig(
        **{
            k: v
            for k, v in model.encoder.config.to_dict().items()
            if k not in ("model_type", "id2label", "label2id")
        }
    )
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    exported = MeanPoolClassifier(config)
    exported.encoder.load_state_dict(model.encoder.state_dict())
    exported.classifier.load_state_dict(model.heads[task].state_dict())
    return exported.eval()


def _standard(model: Any, task: str) -> PreTrainedModel:
    """The standard ``*ForSequenceClassification`` holding a pooler-pooled model's encoder and one head."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    labels = model.tasks[task]
    fields = {k: v for k, v in model.encoder.config.to_dict().items() if k not in ("id2label", "label2id", "architectures", "model_type", "dtype", "finsent")}
    config = AutoConfig.for_model(model.encoder.config.model_type, **fields)
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    exported = AutoModelForSequenceClassification.from_config(config)
    getattr(exported, exported.base_model_prefix).load_state_dict(model.encoder.state_dict())
    exported.classifier.load_state_dict(model.heads[task].state_dict())
    return exported


def export_standard(checkpoint: str | Path, task: str, out_dir: str | Path) -> Path:
    """Write one head of a pooler-pooled finsent checkpoint as a plain ``*ForSequenceClassification`` directory.

    No finsent code is needed to run the result: ``transformers.pipeline("text-classification", model=out_dir)``.
    The weights keep the checkpoint's stored dtype; the head's calibration is already folded into it
    (its news temperature, where the head has one per kind: a comment temperature needs finsent's scoring).
    """
    import json

    from transformers import AutoTokenizer

    src = Path(checkpoint)
    model, _ = load_multitask(src)
    if task not in model.tasks:
        raise ValueError(f"{checkpoint} has no {task!r} head (it has {sorted(model.tasks)})")
    if model.pooling != "pooler":
        raise ValueError(
            f"{checkpoint} uses {model.pooling} pooling, which no standard sequence-classification class has; "
            "train with --pooling pooler for a standard export (or use MeanPoolClassifier)"
        )
    stored = json.loads((src / "config.json").read_text()).get("dtype", "float32")
    dtype = dtype_named(stored)
    out = Path(out_dir)
    _standard(model, task).to(dtype).save_pretrained(out)
    AutoTokenizer.from_pretrained(str(src)).save_pretrained(out)
    return out
