"""Domain-adaptive pretraining (Gururangan et al., 2020): more masked-LM training of the base on the domain's text.

An option of ``finsent train`` (``--dapt_files``): before fine-tuning, the base encoder continues
BERT's masked-language-model objective on the given texts (financial news and tweets, labels
ignored), and fine-tuning then starts from the adapted encoder. The adapted base is cached in the
run's checkpoint directory, so a resumed run does not pretrain again.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["adapt_base", "mask_tokens"]

log = logging.getLogger(__name__)


def mask_tokens(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    special_ids: Sequence[int],
    probability: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: of the chosen tokens, 80 % become [MASK], 10 % a random token, 10 % stay; labels -100 elsewhere."""
    labels = input_ids.clone()
    candidates = attention_mask.bool() & ~torch.isin(input_ids, torch.tensor(list(special_ids)))
    chosen = (torch.rand(input_ids.shape, generator=generator) < probability) & candidates
    labels[~chosen] = -100
    masked = input_ids.clone()
    roll = torch.rand(input_ids.shape, generator=generator)
    masked[chosen & (roll < 0.8)] = mask_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    masked[swap] = torch.randint(vocab_size, input_ids.shape, generator=generator)[swap]
    return masked, labels


def adapt_base(
    base: str,
    texts: Sequence[str],
    out_dir: str | Path,
    *,
    epochs: float = 1.0,
    learning_rate: float = 5e-5,
    batch_size: int = 32,
    max_length: int = 64,
    probability: float = 0.15,
    seed: int = 42,
    autocast: Any = None,
    disable_progress: bool = False,
) -> Path:
    """The base encoder after masked-LM training on ``texts``, saved as a plain checkpoint in ``out_dir``."""
    from tqdm.auto import tqdm
    from transformers import AutoModelForMaskedLM, AutoTokenizer, get_linear_schedule_with_warmup

    from finsent.model.batching import bucketed_batches, pad_batch

    out = Path(out_dir)
    if (out / "config.json").is_file():
        log.warning("domain-adapted base found; not pretraining again", extra={"path": str(out)})
        return out
    started = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForMaskedLM.from_pretrained(base)  # the LM head is new when the base shipped without one
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    per_epoch = math.ceil(len(ids) / batch_size)
    total = max(1, math.ceil(per_epoch * epochs))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.06 * total), total)
    special = tokenizer.all_special_ids
    model.train()
    bar = tqdm(total=total, desc="dapt", unit="step", disable=disable_progress, dynamic_ncols=True)
    step, losses = 0, []
    while step < total:
        for batch in bucketed_batches([len(x) for x in ids], batch_size, rng):
            input_ids, mask = pad_batch([ids[i] for i in batch], int(tokenizer.pad_token_id or 0))
            masked, labels = mask_tokens(
                input_ids, mask, mask_id=int(tokenizer.mask_token_id), vocab_size=len(tokenizer),
                special_ids=special, probability=probability, generator=generator,
            )  # fmt: skip
            with autocast() if autocast else torch.autocast("cpu", enabled=False):
                loss = model(input_ids=masked, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            step += 1
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.3f}")
            if step >= total:
                break
    bar.close()
    tmp = out.with_name(out.name + ".tmp")
    # The masked-LM model has no [CLS] pooler; the base's own (untouched by DAPT) is kept beside the adapted layers.
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(base)
    encoder.load_state_dict(getattr(model, model.base_model_prefix).state_dict(), strict=False)
    encoder.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    summary = {"steps": step, "texts": len(ids), "seconds": round(time.monotonic() - started, 1)}
    (tmp / "dapt.json").write_text(json.dumps(summary | {"first_loss": losses[0], "last_loss": losses[-1]}))
    tmp.rename(out)
    log.warning(
        "domain-adaptive pretraining done",
        extra={"steps": step, "texts": len(ids), "first_loss": losses[0], "last_loss": sum(losses[-50:]) / len(losses[-50:]),
               "seconds": round(time.monotonic() - started, 1)},
    )  # fmt: skip
    return out
