"""``load(path)`` -> a classifier whose ``predict(texts)`` gives topic and sentiment per text.

Accepts finsent's own multi-task checkpoints and plain Hugging Face sequence-classification
checkpoints for one task (directory or hub name, e.g. ProsusAI/finbert), whose ``id2label``
is mapped onto finsent's label names.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase

from finsent.logs import route_transformers_logging
from finsent.model.architecture import WEIGHTS_NAME, is_multitask_checkpoint, load_multitask
from finsent.model.data import model_input_text
from finsent.model.labels import canonical_sentiment, is_sentiment_vocabulary
from finsent.model.scoring import Prediction, predictions

__all__ = ["Classifier", "load", "read_card", "resolve_device"]

log = logging.getLogger(__name__)


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks the GPU when there is one."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but torch sees no GPU")
    return resolved


class _SingleTaskAdapter(nn.Module):
    """Presents a HF sequence-classification model as a one-task multi-task model."""

    def __init__(self, inner: nn.Module, task: str) -> None:
        super().__init__()
        self.inner = inner
        self.task = task

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: torch.Tensor) -> dict[str, torch.Tensor]:
        return {self.task: self.inner(input_ids=input_ids, attention_mask=attention_mask, **extra).logits}


class Classifier:
    """Batched inference over a (multi-task) encoder; thread-compatible, not thread-safe."""

    def __init__(
        self,
        module: nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        tasks: dict[str, list[str]],
        *,
        version: str,
        device: torch.device,
        max_length: int = 128,
        batch_size: int = 64,
        card: dict[str, Any] | None = None,
        normalize: bool = False,
    ) -> None:
        self.module = module.to(device).eval()
        self.tokenizer = tokenizer
        self.tasks = tasks
        self.version = version
        self.device = device
        self.max_length = max_length
        self.batch_size = batch_size
        self.card = card or {}
        # Checkpoints trained on normalised text (URLs dropped, entities decoded) must see it at inference too.
        self.normalize = normalize

    @property
    def has_sentiment(self) -> bool:
        return "sentiment" in self.tasks

    def logits(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Raw logits per task, in input order (fp32, on the CPU)."""
        if not texts:
            return {task: torch.empty(0, len(labels)) for task, labels in self.tasks.items()}
        if self.normalize:
            texts = [model_input_text(t) for t in texts]
        # Sorting by length lets each batch pad only to its own longest text.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: dict[str, torch.Tensor] = {
            task: torch.empty(len(texts), len(labels)) for task, labels in self.tasks.items()
        }
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                enc = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
                result = self.module(**enc)
                for task, value in result.items():
                    out[task][torch.tensor(idx)] = value.float().cpu()
        return out

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Topic and sentiment for every text, in input order."""
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        if not texts:
            return []
        return predictions(self.logits(texts), self.tasks)


def _weights_digest(path: Path) -> str:
    """Short content hash of a checkpoint: a retrained model is a new version."""
    h = hashlib.sha256()
    for name in ("config.json", WEIGHTS_NAME, "pytorch_model.bin"):
        f = path / name
        if f.is_file():
            with f.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:8]


def _load_plain(name_or_path: str) -> tuple[nn.Module, dict[str, list[str]]]:
    inner = AutoModelForSequenceClassification.from_pretrained(name_or_path)
    id2label = {int(k): str(v) for k, v in inner.config.id2label.items()}
    labels = [id2label[i] for i in range(len(id2label))]
    if is_sentiment_vocabulary(labels):
        return _SingleTaskAdapter(inner, "sentiment"), {"sentiment": [canonical_sentiment(lab) or lab for lab in labels]}
    return _SingleTaskAdapter(inner, "topic"), {"topic": labels}


def load(
    path: str | Path,
    *,
    device: str = "auto",
    max_length: int = 128,
    batch_size: int = 64,
    threads: int | None = None,
) -> Classifier:
    """Load a finsent multi-task checkpoint, or a plain HF sequence-classification one."""
    route_transformers_logging()
    if threads:
        torch.set_num_threads(threads)
    target = resolve_device(device)
    local = Path(path)
    if local.is_dir() and is_multitask_checkpoint(local):
        module, meta = load_multitask(local)
        normalize = bool(meta.get("preprocess"))
        tasks = module.tasks
        version = str(meta.get("version") or local.name) + "@" + _weights_digest(local)
        card = meta
        tokenizer = AutoTokenizer.from_pretrained(str(local))
    else:
        if not local.exists() and ("/" not in str(path) or str(path).startswith((".", "/"))):
            raise FileNotFoundError(f"no checkpoint at {path} (choose one with --model or FINSENT_MODEL_PATH)")
        module, tasks = _load_plain(str(path))
        normalize = False
        version = (local.name + "@" + _weights_digest(local)) if local.is_dir() else str(path)
        card = {"source": str(path)}
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    log.info("model loaded", extra={"version": version, "tasks": list(tasks), "device": str(target)})
    return Classifier(
        module, tokenizer, tasks, version=version, device=target, max_length=max_length, batch_size=batch_size, card=card,
        normalize=normalize,
    )


def read_card(path: str | Path) -> dict[str, Any]:
    """The ``finsent`` block of a checkpoint's config (labels, version, evaluation)."""
    config = Path(path) / "config.json"
    return json.loads(config.read_text()).get("finsent", {}) if config.is_file() else {}
