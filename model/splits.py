"""A fixed train / validation / test split of corpora that ship without one (the news sets).

The rule is deterministic and needs no committed ids: texts are grouped with their near-duplicates
(the same headline re-worded, re-cased, re-punctuated, or quoted inside a longer paragraph), and
each group goes to one side as a whole, by a hash of its first member's normalised text. So a
story never sits on both sides of the split, and adding or removing a row moves only its own group.

Near-duplicates: token-set Jaccard >= 0.6, or >= 80 % of the shorter text's tokens (at least 5
distinct) found in the longer one. The split is computed over every text a corpus folder holds
(``train.csv`` and ``entity_level.csv``), so the sentence-level and entity-level files split alike.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["SPLITS", "Split", "SplitRule", "assign_splits", "near_duplicate_groups", "split_key"]

Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")
_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class SplitRule:
    """Shares in percent of groups, and the near-duplicate thresholds."""

    validation_pct: int = 10
    test_pct: int = 10
    jaccard: float = 0.6
    containment: float = 0.8
    min_containment_tokens: int = 5

    def side(self, key: str) -> Split:
        bucket = int(key[:8], 16) % 100
        if bucket < self.test_pct:
            return "test"
        if bucket < self.test_pct + self.validation_pct:
            return "validation"
        return "train"


def split_key(text: str) -> str:
    """The normalised identity of a text: lowercase word tokens joined by spaces."""
    return " ".join(_TOKEN.findall(text.lower()))


def near_duplicate_groups(texts: Sequence[str], rule: SplitRule = SplitRule()) -> list[int]:
    """A group number per text; texts linked by a chain of near-duplicate pairs share one."""
    keys = [split_key(t) for t in texts]
    vocab: dict[str, int] = {}
    rows: list[list[int]] = [sorted({vocab.setdefault(w, len(vocab)) for w in k.split()}) for k in keys]
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    by_key: dict[str, int] = {}
    for i, k in enumerate(keys):  # exact duplicates first (cheap, and covers empty token sets)
        if k in by_key:
            union(by_key[k], i)
        else:
            by_key[k] = i
    if texts and vocab:
        from scipy.sparse import csr_matrix

        indptr = np.cumsum([0] + [len(r) for r in rows])
        indices = np.fromiter((t for r in rows for t in r), dtype=np.int32, count=int(indptr[-1]))
        matrix = csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(rows), len(vocab)))
        sizes = np.diff(indptr).astype(np.float32)
        for start in range(0, len(rows), 2048):
            block = (matrix[start : start + 2048] @ matrix.T).tocoo()  # shared tokens per pair
            i, j, shared = block.row + start, block.col, block.data
            keep = i < j
            i, j, shared = i[keep], j[keep], shared[keep]
            jaccard = shared / (sizes[i] + sizes[j] - shared)
            smaller = np.minimum(sizes[i], sizes[j])
            contained = (smaller >= rule.min_containment_tokens) & (shared >= rule.containment * smaller)
            for a in np.nonzero((jaccard >= rule.jaccard) | contained)[0]:
                union(int(i[a]), int(j[a]))
    return [find(i) for i in range(len(texts))]


def assign_splits(texts: Iterable[str], rule: SplitRule = SplitRule()) -> dict[str, Split]:
    """The side of every distinct text (keyed by the text itself)."""
    distinct = list(dict.fromkeys(texts))
    groups = near_duplicate_groups(distinct, rule)
    # A group's side is decided by its smallest member key, so it does not depend on row order.
    group_key: dict[int, str] = {}
    for text, group in zip(distinct, groups, strict=True):
        digest = hashlib.sha256(split_key(text).encode()).hexdigest()
        if group not in group_key or digest < group_key[group]:
            group_key[group] = digest
    return {text: rule.side(group_key[group]) for text, group in zip(distinct, groups, strict=True)}
