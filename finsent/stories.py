"""Near-duplicate stories: MinHash signatures of normalised word shingles, banded for LSH look-ups.

One wire story republished by ten outlets should count once. Each document's text is reduced to
its normalised words and word pairs (the shingles), summarised by a MinHash signature
(``datasketch``), and cut into LSH bands: two texts whose shingle sets have Jaccard similarity
``s`` share at least one band with probability ``1 - (1 - s^r)^b``, so a look-up by band finds
the likely copies without comparing against every stored text. Candidates are then confirmed
on the estimated similarity itself. The bands and signatures are stored (``finsent.store``), so
every worker and backfill sees the same stories across processes and restarts.

Pure functions; the database side lives in ``finsent.store``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

import numpy as np
from datasketch import MinHash, MinHashLSH

from finsent.settings import StorySettings

__all__ = [
    "StoryOptions",
    "band_keys",
    "from_bytes",
    "shingles",
    "signature",
    "similarity",
    "to_bytes",
    "words",
]

# Words: letters and digits, keeping '3.5' and "o'neill" whole; case and punctuation are house style.
_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
_SEED = 16  # every process must draw the same permutations, or signatures do not compare


@dataclass(frozen=True)
class StoryOptions:
    """How stories are found and counted (``finsent.settings.StorySettings`` in a form the store needs)."""

    count: str = "stories"  # stories | documents: what rollups (and so alert rates) count
    window: timedelta = timedelta(hours=48)  # copies further apart in publication time are other stories
    threshold: float = 0.4  # least estimated Jaccard similarity of shingles for "the same story"
    num_perm: int = 64
    # Per LSH band, the newest members (stored, and earlier in the batch) compared with a new
    # text. Copies of one story share its id, so matching any of them is enough; without a bound
    # a templated headline (thousands of near-copies a day) was compared with all of them.
    max_candidates: int = 8

    @classmethod
    def from_settings(cls, settings: StorySettings) -> StoryOptions:
        return cls(
            count=settings.count,
            window=timedelta(hours=settings.window_h),
            threshold=settings.threshold,
            num_perm=settings.num_perm,
        )

    @property
    def bands(self) -> tuple[int, int]:
        """(bands, rows per band): datasketch's choice minimising false positives and negatives at ``threshold``."""
        return _bands(self.threshold, self.num_perm)


@lru_cache(maxsize=8)
def _bands(threshold: float, num_perm: int) -> tuple[int, int]:
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def words(text: str) -> list[str]:
    """The text's words, lower-cased, without punctuation."""
    return _WORD.findall(text.lower())


def shingles(text: str) -> set[str]:
    """Single words and adjacent word pairs.

    Measured on the labelled pairs (docs/desk.md): words alone miss reordered copies less,
    pairs tell apart two stories that share a company's name; together they did best.
    """
    w = words(text)
    return set(w) | {f"{a} {b}" for a, b in zip(w, w[1:])}


@lru_cache(maxsize=4)
def _template(num_perm: int) -> MinHash:
    return MinHash(num_perm=num_perm, seed=_SEED)


def signature(text: str, num_perm: int = 64) -> np.ndarray:
    """The MinHash signature (``num_perm`` uint64 values) of the text's shingles."""
    sketch = _template(num_perm).copy()
    sketch.update_batch([s.encode() for s in shingles(text)])
    return sketch.hashvalues.astype(np.uint64)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures: the share of equal positions."""
    return float(np.count_nonzero(a == b)) / len(a)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[int]:
    """One signed 64-bit key per band: equal keys mean equal rows in that band (a BIGINT column holds them)."""
    keys = []
    for band in range(bands):
        chunk = sig[band * rows : (band + 1) * rows].tobytes()
        digest = hashlib.blake2b(bytes([band]) + chunk, digest_size=8).digest()
        keys.append(int.from_bytes(digest, "big", signed=True))
    return keys


def to_bytes(sig: np.ndarray) -> bytes:
    """The signature as stored (little-endian uint64s)."""
    return sig.astype("<u8").tobytes()


def from_bytes(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64)
