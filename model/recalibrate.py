"""``finsent calibrate``: refit a trained checkpoint's temperatures in place, without training it again.

Calibration is the last step of ``finsent train``; when its rule changes (a temperature per kind of
text, say), a shipped model is brought up to it here rather than retrained for hours. The
checkpoint's own card says what it was trained on, so the same validation sets fit the new
temperatures; the heads' old temperature is unfolded first, the new one folded, and the checkpoint's
reports and card are written again from the saved artefact, as training writes them.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from finsent.model.train import calibrate, load_tasks, report_checkpoint
from finsent.model.train_args import DataArguments, FinetuneArguments, ModelArguments

__all__ = ["Recalibrated", "recalibrate", "recipe_of"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Recalibrated:
    """What changed: each head's temperatures before and after."""

    path: Path
    version: str
    before: dict[str, dict[str, float]]
    after: dict[str, dict[str, float]]


def _known(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in values.items() if k in names}


def recipe_of(meta: dict[str, Any], **overrides: Any) -> tuple[ModelArguments, DataArguments, FinetuneArguments]:
    """The arguments a checkpoint was trained with, from its card (``overrides`` replace train arguments)."""
    training = meta.get("training") or {}
    if not training.get("data_args"):
        raise ValueError("the checkpoint's card does not say what it was trained on (no training.data_args)")
    margs = ModelArguments(**_known(ModelArguments, training.get("model_args") or {}))
    dargs = DataArguments(**_known(DataArguments, training["data_args"]))
    train_args = {**(training.get("train_args") or {}), **overrides}
    train_args.setdefault("output_dir", "unused")
    fargs = FinetuneArguments(**_known(FinetuneArguments, train_args))
    return margs, dargs, fargs


def _temperatures(calibration: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {
        task: {"folded": float(entry["temperature"]), **{k: float(v) for k, v in (entry.get("kind_temperatures") or {}).items()}}
        for task, entry in calibration.items()
    }


def recalibrate(
    path: str | Path,
    *,
    version: str | None = None,
    comment_domains: list[str] | None = None,
) -> Recalibrated:
    """Refit the calibration of the finsent checkpoint at ``path`` on its own validation sets; rewrite it."""
    from transformers import AutoTokenizer

    from finsent.model.architecture import dtype_named, is_multitask_checkpoint, load_multitask, save_multitask
    from finsent.model.calibration import fold_temperature

    out = Path(path)
    if not is_multitask_checkpoint(out):
        raise ValueError(f"{out} is not a finsent checkpoint")
    model, meta = load_multitask(out)
    overrides = {} if comment_domains is None else {"calibration_comment_domains": comment_domains}
    margs, dargs, fargs = recipe_of(meta, **overrides)
    old = meta.get("calibration") or {}
    for task, entry in old.items():
        if entry.get("folded") and task in model.heads:
            fold_temperature(model.heads[task], 1.0 / float(entry["temperature"]))  # back to the raw logits
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    tasks = load_tasks(dargs)
    meta["calibration"] = calibrate(model, tasks, tokenizer, margs, dargs, fargs)
    # The arguments the card shows are those the checkpoint now reflects.
    meta.setdefault("training", {}).setdefault("train_args", {})["calibration_comment_domains"] = list(
        fargs.calibration_comment_domains
    )
    new_version = version or str(meta.get("version") or out.name)
    extra = {k: v for k, v in meta.items() if k not in ("tasks", "pooling", "version", "layout", "primary_task")}
    save_multitask(model, tokenizer, out, version=new_version, extra=extra, dtype=dtype_named(fargs.save_dtype))
    report_checkpoint(out, tasks, margs, fargs)
    result = Recalibrated(out, new_version, _temperatures(old), _temperatures(meta["calibration"]))
    log.warning("recalibrated", extra={"path": str(out), "version": new_version, "after": result.after})
    return result
