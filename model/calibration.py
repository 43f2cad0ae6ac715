"""Temperature scaling (Guo et al., 2017): one scalar per head so that a score of 0.8 is right 80 % of the time.

Alert rules and the dashboard's minimum-score filter read ``sentiment_score``, so probabilities must
mean what they say. The temperature is fitted on validation logits by minimising the negative
log-likelihood, then folded into the head itself (weights and bias divided by T): every backend that
runs the checkpoint (PyTorch, ONNX Runtime, int8, a plain ``transformers.pipeline``) then produces
calibrated scores with no extra step, and labels cannot change (argmax is scale-invariant).

One temperature cannot fit every kind of text: the distilled student is under-confident on tweets
(their temperature is below 1) and nearly right on formal news, so a temperature pooled over both
miscalibrates news, the product's core signal. A head validated on both kinds therefore gets two:
the news temperature is folded into the head (news is the default kind, and what a plain
``transformers`` pipeline gets), and the comment temperature is stored beside it and applied to
messages of kind ``comment`` by :func:`rescale` (softmax(z / T_k) is softmax(z / T) raised to the
power T / T_k and renormalised, so it needs only the folded probabilities, from any backend).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DEFAULT_KIND",
    "ece_noise_floor",
    "expected_calibration_error",
    "fit_temperature",
    "fold_temperature",
    "kind_powers",
    "rescale",
]

# The kind whose temperature is folded into a head; every other kind's is applied by ``rescale``.
DEFAULT_KIND = "news"


def _nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    return float(F.cross_entropy(logits / temperature, labels))


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, *, low: float = 0.05, high: float = 20.0) -> float:
    """The T minimising NLL(softmax(logits / T)); golden-section search over log T (NLL is unimodal in T)."""
    if len(labels) == 0:
        return 1.0
    logits, labels = logits.float(), labels.long()
    a, b = math.log(low), math.log(high)
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = _nll(logits, labels, math.exp(c)), _nll(logits, labels, math.exp(d))
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = _nll(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = _nll(logits, labels, math.exp(d))
    return round(math.exp((a + b) / 2), 4)


def expected_calibration_error(probabilities: torch.Tensor, labels: torch.Tensor, *, bins: int = 15) -> float:
    """Top-label ECE over ``bins`` equal-width confidence bins: sum of |accuracy - confidence| weighted by bin share."""
    if len(labels) == 0:
        return 0.0
    confidence, predicted = probabilities.float().max(-1)
    correct = (predicted == labels).float()
    edges = torch.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            ece += float(inside.float().mean() * (correct[inside].mean() - confidence[inside].mean()).abs())
    return round(ece, 5)


def ece_noise_floor(
    probabilities: torch.Tensor, *, bins: int = 15, draws: int = 200, quantile: float = 0.95, seed: int = 0
) -> float:
    """The ECE a *perfectly calibrated* model would show on a set of this size and these confidences.

    ECE is biased upwards on small sets: with 112 texts and 15 bins, sampling noise alone gives a few
    hundredths. Each draw makes every prediction right with probability equal to its confidence (so
    the model is calibrated by construction) and computes ECE; the ``quantile`` of the draws is the
    level below which a measured ECE cannot be told apart from calibrated.
    """
    if len(probabilities) == 0:
        return 0.0
    confidence, predicted = probabilities.float().max(-1)
    g = torch.Generator().manual_seed(seed)
    other = (predicted + 1) % probabilities.shape[-1]  # any label but the predicted one: "wrong"
    values = []
    for _ in range(draws):
        right = torch.rand(len(confidence), generator=g) < confidence
        labels = torch.where(right, predicted, other)
        values.append(expected_calibration_error(probabilities, labels, bins=bins))
    return round(float(torch.tensor(values).quantile(quantile)), 5)


@torch.no_grad()
def fold_temperature(head: nn.Linear, temperature: float) -> None:
    """Make ``head`` output logits / T, so softmax of its output is the calibrated probability."""
    head.weight.div_(temperature)
    if head.bias is not None:
        head.bias.div_(temperature)


def kind_powers(calibration: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """kind -> head -> the power that turns the head's folded probabilities into that kind's calibrated ones.

    ``calibration`` is a checkpoint's calibration block; a head with ``kind_temperatures``
    ({"comment": T_k}) gives power T / T_k, T being its folded temperature. Heads and kinds without
    their own temperature are absent: their folded probabilities are already the calibrated ones.
    """
    out: dict[str, dict[str, float]] = {}
    for head, entry in calibration.items():
        folded = float(entry.get("temperature") or 1.0)
        for kind, temperature in (entry.get("kind_temperatures") or {}).items():
            if kind != DEFAULT_KIND and float(temperature) > 0:
                out.setdefault(kind, {})[head] = folded / float(temperature)
    return out


def rescale(probabilities: Sequence[float], power: float) -> list[float]:
    """``probabilities`` (a softmax over logits z / T) as the softmax over z / T_k, with power = T / T_k."""
    if power == 1.0:
        return [float(p) for p in probabilities]
    # Zero stays zero; the largest probability is divided out first so the powers cannot underflow.
    top = max(probabilities)
    if top <= 0:
        return [float(p) for p in probabilities]
    raised = [(float(p) / top) ** power if p > 0 else 0.0 for p in probabilities]
    total = sum(raised)
    return [r / total for r in raised]
