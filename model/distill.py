"""Knowledge distillation: a fine-tuned teacher's soft targets, computed once, taught to the student.

The teacher (a larger encoder fine-tuned with ``finsent train``) scores every training text, the
labelled ones and the unlabelled ones, for every head it has. Its logits are cached on disk under a
hash of the teacher's weights and the texts, in chunks, so an interrupted run resumes where it
stopped and the student's epochs never run the teacher again.

The student's loss per head is ``(1 - alpha) * cross-entropy(hard label)`` for texts labelled for
that head plus ``alpha * T^2 * KL(teacher_T || student_T)`` for every text with a soft target
(Hinton et al., 2015): each text teaches both heads, whatever corpus it came from.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

__all__ = ["kd_loss", "teacher_logits"]

log = logging.getLogger(__name__)

_CHUNK = 1024


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per-example ``T^2 * KL(softmax(teacher/T) || softmax(student/T))``; the T^2 keeps gradients in scale."""
    t = temperature
    log_p_student = F.log_softmax(student.float() / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher.float() / t, dim=-1)
    return (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1) * (t * t)


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
) -> dict[str, torch.Tensor]:
    """The teacher's fp32 logits per head for ``texts`` (in order), from the cache when present."""
    from tqdm.auto import tqdm

    from finsent.model.engine import load_engine

    import json
    import time

    teacher_dir = Path(teacher_dir)
    cache = Path(cache_dir) / f"teacher-logits-{_cache_key(teacher_dir, texts, max_length)}.pt"
    if cache.is_file():
        return torch.load(cache, map_location="cpu")
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
    cache.with_suffix(".json").write_text(json.dumps({"texts": len(texts), "seconds": round(time.monotonic() - started, 1)}))
    log.info("teacher logits", extra={"texts": len(texts), "cache": str(cache)})
    return result
