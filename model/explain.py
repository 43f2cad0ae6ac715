"""Why this label: token attributions for the predicted class, by integrated gradients (``captum``).

Integrated gradients walk the word embeddings from a baseline (every word replaced by padding,
the [CLS] and [SEP] markers kept) to the text, and sum the gradients of the predicted class's
logit along the way: a token's attribution is how much its being there moved the model towards
(positive) or away from (negative) the label it gave. Sub-word pieces are summed into the words
the reader sees, with their character spans, so a page can highlight the text itself.

Needs the PyTorch classifier (``finsent.model.classifier``): the ONNX engine has no gradients.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from finsent.model.classifier import Classifier
from finsent.model.data import model_input_text

__all__ = ["Attribution", "Explanation", "explain"]


@dataclass(frozen=True)
class Attribution:
    """One word of the text and its share of the evidence (the attributions' L1 norm is 1)."""

    token: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Explanation:
    """The model's label for a text and the words behind it."""

    model_version: str
    task: str
    label: str
    probability: float
    text: str  # as the model read it (normalised when the checkpoint asks for that)
    tokens: list[Attribution] = field(default_factory=list)
    convergence_delta: float = 0.0  # integrated gradients' completeness error: small means trustworthy

    def top(self, n: int = 5) -> list[Attribution]:
        """The ``n`` words that supported the label most."""
        return sorted(self.tokens, key=lambda a: a.score, reverse=True)[:n]

    def as_dict(self, top: int = 5) -> dict[str, Any]:
        out = asdict(self)
        out["top"] = [a.token for a in self.top(top)]
        return out


def explain(classifier: Classifier, text: str, *, task: str = "sentiment", steps: int = 32) -> Explanation:
    """Attributions of ``text``'s predicted ``task`` label to its words."""
    from captum.attr import LayerIntegratedGradients

    if task not in classifier.tasks:
        raise ValueError(f"model {classifier.version} has no {task} head")
    module, tokenizer = classifier.module, classifier.tokenizer
    shown = model_input_text(text) if classifier.normalize else text
    enc = tokenizer(
        shown, truncation=True, max_length=classifier.max_length, return_offsets_mapping=True, return_tensors="pt"
    )
    offsets = enc.pop("offset_mapping")[0].tolist()
    inputs = {k: v.to(classifier.device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    special = torch.tensor(tokenizer.get_special_tokens_mask(ids[0].tolist(), already_has_special_tokens=True), dtype=torch.bool)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    baseline = torch.where(special.to(ids.device), ids[0], torch.full_like(ids[0], pad)).unsqueeze(0)

    def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return module(input_ids=input_ids, attention_mask=attention_mask)[task]

    with torch.no_grad():
        probs = torch.softmax(forward(ids, mask).float(), dim=-1)[0]
    target = int(probs.argmax())
    embeddings = module.encoder.get_input_embeddings() if hasattr(module, "encoder") else module.get_input_embeddings()
    lig = LayerIntegratedGradients(forward, embeddings)
    attributions, delta = lig.attribute(
        ids, baselines=baseline, additional_forward_args=(mask,), target=target, n_steps=steps,
        internal_batch_size=steps, return_convergence_delta=True,
    )  # fmt: skip
    per_piece = attributions.sum(dim=-1)[0].float()
    per_piece = per_piece / per_piece.abs().sum().clamp(min=1e-12)
    words = _words(shown, offsets, special.tolist(), per_piece.tolist())
    return Explanation(
        model_version=classifier.version,
        task=task,
        label=classifier.tasks[task][target],
        probability=round(float(probs[target]), 6),
        text=shown,
        tokens=words,
        convergence_delta=round(float(delta.abs().sum()), 6),
    )


def _words(text: str, offsets: list[list[int]], special: list[int], scores: list[float]) -> list[Attribution]:
    """Sub-word pieces merged into words (a piece that starts where the last ended continues it)."""
    out: list[list[Any]] = []  # [start, end, score]
    for (start, end), is_special, score in zip(offsets, special, scores, strict=True):
        if is_special or end <= start:
            continue
        if out and start == out[-1][1] and text[start].isalnum() and text[start - 1].isalnum():
            out[-1][1] = end
            out[-1][2] += score
        else:
            out.append([start, end, score])
    return [Attribution(text[s:e], s, e, round(v, 6)) for s, e, v in out]
