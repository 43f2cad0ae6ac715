"""Knowledge distillation: a fine-tuned teacher's soft targets, computed once, taught to the student.

The teacher (a larger encoder fine-tuned with ``finsent train``) scores every training text, the
labelled ones and the unlabelled ones, for every head it has. Its logits are cached on disk under a
hash of the teacher's weights and the texts, in chunks, so an interrupted run resumes where it
stopped and the student's epochs never run the teacher again.

The logits can also be *published* (``--teacher_soft_targets FILE``): a small file keyed by a hash of
each text, with the teacher's card, that a later run reads when the teacher's weights (hundreds of MB,
never committed) are absent. So the student can be rebuilt from the repository alone, and the teacher
is needed only to regenerate that file.

The student's loss per head is ``(1 - alpha) * cross-entropy(hard label)`` for texts labelled for
that head plus ``alpha * T^2 * KL(teacher_T || student_T)`` for every text with a soft target
(Hinton et al., 2015): each text teaches both heads, whatever corpus it came from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "SoftTargetsError",
    "has_weights",
    "kd_loss",
    "load_soft_targets",
    "read_soft_targets",
    "save_soft_targets",
    "teacher_logits",
]

log = logging.getLogger(__name__)

_CHUNK = 1024


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per-example ``T^2 * KL(softmax(teacher/T) || softmax(student/T))``; the T^2 keeps gradients in scale."""
    t = temperature
    log_p_student = F.log_softmax(student.float() / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher.float() / t, dim=-1)
    return (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1) * (t * t)


class SoftTargetsError(ValueError):
    """A published soft-targets file cannot serve this run."""


_FORMAT = 1


def text_key(text: str) -> int:
    """A text's 64-bit identity in a soft-targets file (the first 8 bytes of its SHA-256)."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "little", signed=True)


def save_soft_targets(
    path: str | Path,
    texts: Sequence[str],
    logits: dict[str, torch.Tensor],
    *,
    max_length: int,
    teacher: dict[str, Any],
) -> None:
    """Write ``texts``' logits (float16, keyed by :func:`text_key`) with the teacher's card to ``path``."""
    keys = torch.tensor([text_key(t) for t in texts], dtype=torch.int64)
    unique, first = _first_occurrence(keys)
    payload = {
        "format": _FORMAT,
        "max_length": max_length,
        "teacher": teacher,
        "keys": unique,
        # float16 halves the file; soft targets at a temperature of 2 need nowhere near its precision.
        "logits": {task: values[first].to(torch.float16) for task, values in logits.items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def _first_occurrence(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted distinct keys and, for each, the index of its first row in ``keys``."""
    unique, inverse = torch.unique(keys, sorted=True, return_inverse=True)
    first = torch.full((len(unique),), len(keys), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(len(keys)), reduce="amin")
    return unique, first


def load_soft_targets(path: str | Path) -> dict[str, Any]:
    """A published soft-targets file, checked for its format."""
    payload = torch.load(Path(path), map_location="cpu")
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise SoftTargetsError(f"{path} is not a finsent soft-targets file (format {_FORMAT})")
    return payload


def read_soft_targets(path: str | Path, texts: Sequence[str], *, max_length: int) -> dict[str, torch.Tensor]:
    """The published fp32 logits of ``texts`` (in order); a clear error when any text is missing."""
    payload = load_soft_targets(path)
    if payload["max_length"] != max_length:
        raise SoftTargetsError(
            f"{path} holds the teacher's logits at {payload['max_length']} tokens, this run asks for {max_length}"
        )
    keys: torch.Tensor = payload["keys"]
    wanted = torch.tensor([text_key(t) for t in texts], dtype=torch.int64)
    rows = torch.searchsorted(keys, wanted).clamp(max=max(len(keys) - 1, 0))
    found = keys[rows] == wanted if len(keys) else torch.zeros(len(wanted), dtype=torch.bool)
    if not bool(found.all()):
        missing = int((~found).sum())
        example = texts[int((~found).nonzero()[0])]
        raise SoftTargetsError(
            f"{path} lacks the teacher's logits for {missing} of {len(texts)} texts (e.g. {example[:60]!r}): "
            "the training data changed since it was published; regenerate it with `make model` "
            "(which fine-tunes the teacher)"
        )
    return {task: values[rows].float() for task, values in payload["logits"].items()}


def _cache_key(teacher_dir: Path, texts: Sequence[str], max_length: int) -> str:
    h = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        f = teacher_dir / name
        if f.is_file():
            h.update(f"{name}:{f.stat().st_size}:{int(f.stat().st_mtime)}".encode())
    h.update(str(max_length).encode())
    for text in texts:
        h.update(text.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def teacher_logits(
    teacher_dir: str | Path,
    texts: Sequence[str],
    *,
    cache_dir: str | Path,
    max_length: int = 128,
    batch_size: int = 64,
    device: str = "auto",
    disable_progress: bool = False,
    soft_targets: str | Path | None = None,
    teacher_card: dict[str, Any] | None = None,
) -> dict[str, torch.Tensor]:
    """The teacher's fp32 logits per head for ``texts`` (in order).

    From the teacher's weights (cached under ``cache_dir``) when ``teacher_dir`` holds them, then also
    published to ``soft_targets`` with ``teacher_card``; from the published ``soft_targets`` otherwise.
    """
    teacher_dir = Path(teacher_dir)
    if not has_weights(teacher_dir):
        if soft_targets is None or not Path(soft_targets).is_file():
            raise SoftTargetsError(
                f"no teacher weights in {teacher_dir} and no published soft targets"
                + (f" at {soft_targets}" if soft_targets else "")
                + ": fine-tune the teacher first (`make model`)"
            )
        log.info("teacher logits from published soft targets", extra={"texts": len(texts), "file": str(soft_targets)})
        return read_soft_targets(soft_targets, texts, max_length=max_length)
    result, seconds = _computed_logits(
        teacher_dir,
        texts,
        cache_dir=cache_dir,
        max_length=max_length,
        batch_size=batch_size,
        device=device,
        disable_progress=disable_progress,
    )
    if soft_targets is not None:
        card = {**(teacher_card or {}), "soft_targets_seconds": seconds}
        save_soft_targets(soft_targets, texts, result, max_length=max_length, teacher=card)
    return result


def has_weights(checkpoint: Path) -> bool:
    """Whether a checkpoint directory holds model weights (not only a published card)."""
    return any((checkpoint / name).is_file() for name in ("model.safetensors", "pytorch_model.bin"))


def _computed_logits(
    teacher_dir: Path,
    texts: Sequence[str],
    *,
    cache_dir: str | Path,
    max_length: int,
    batch_size: int,
    device: str,
    disable_progress: bool,
) -> tuple[dict[str, torch.Tensor], float | None]:
    """The teacher's logits from its weights, resumable, and the seconds the computing took."""
    from tqdm.auto import tqdm

    from finsent.model.engine import load_engine

    cache = Path(cache_dir) / f"teacher-logits-{_cache_key(teacher_dir, texts, max_length)}.pt"
    sidecar = cache.with_suffix(".json")
    if cache.is_file():
        seconds = json.loads(sidecar.read_text())["seconds"] if sidecar.is_file() else None
        return torch.load(cache, map_location="cpu"), seconds
    started = time.monotonic()
    partial = cache.with_suffix(".partial.pt")
    done: dict[str, list[torch.Tensor]] = torch.load(partial, map_location="cpu") if partial.is_file() else {}
    start = sum(len(c) for c in next(iter(done.values()), []))
    # The engine's precision (bf16 on AMX/AVX512-BF16 CPUs and GPUs): 2-3x fp32 for the largest pass of the
    # recipe; soft targets need no more than its 99.8 % label agreement with fp32.
    classifier = load_engine(teacher_dir, device=device, max_length=max_length, batch_size=batch_size, warmup=False)
    cache.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(texts), initial=start, desc="teacher", unit="text", disable=disable_progress, dynamic_ncols=True)
    for first in range(start, len(texts), _CHUNK):
        chunk = classifier.logits(list(texts[first : first + _CHUNK]))
        for task, values in chunk.items():
            done.setdefault(task, []).append(values.float())
        tmp = partial.with_suffix(".tmp")
        torch.save(done, tmp)
        os.replace(tmp, partial)  # resumable after every chunk
        bar.update(len(next(iter(chunk.values()))))
    bar.close()
    result = {task: torch.cat(parts) if parts else torch.empty(0) for task, parts in done.items()}
    if not result:  # no texts at all
        result = {task: torch.empty(0, len(labels)) for task, labels in classifier.tasks.items()}
    torch.save(result, cache)
    partial.unlink(missing_ok=True)
    # The time of this stage, for the model card (a resumed run counts only its own part).
    seconds = round(time.monotonic() - started, 1)
    sidecar.write_text(json.dumps({"texts": len(texts), "seconds": seconds}))
    log.info("teacher logits", extra={"texts": len(texts), "cache": str(cache)})
    return result, seconds
