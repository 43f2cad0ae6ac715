"""Spike statistics: is the rate in a short window surprisingly and materially above its baseline?

Pure functions over counts; nothing here reads a database or a clock.

The test has four parts, all required to fire:
  * volume: at least ``min_volume`` documents in the window (below that, any rate is noise);
  * floor: the window rate is at least ``min_rate`` (a jump from 2% to 8% is not news);
  * surprise: the binomial z-score of the window count against the baseline rate is at least
    ``min_z``; under a flat stream this is rare however many scopes are watched;
  * size: the window rate's 95% Wilson lower bound is at least ``min_lift`` times the baseline
    rate, so a huge scope cannot fire on a statistically certain but tiny shift.

The baseline rate is shrunk toward a prior (the overall rate) with ``prior_weight`` pseudo-
documents, so a ticker with three documents last week does not get a baseline of 0% or 100%.
A firing alert stays firing while z stays at or above ``resolve_z`` (hysteresis: no flapping).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "Counts",
    "NEUTRAL_PRIOR",
    "SpikeParams",
    "SpikeStats",
    "assess",
    "binomial_z",
    "overall_prior",
    "shrunk_rate",
    "wilson_lower",
]

NEUTRAL_PRIOR = 1 / 3  # three sentiment classes: the rate to assume with no history at all
_PRIOR_WEIGHT_ALL = 20.0  # pseudo-documents behind NEUTRAL_PRIOR when even the overall baseline is thin
_RATE_CLAMP = (0.01, 0.99)  # keeps the binomial variance away from zero
_WILSON_Z = 1.645  # one-sided 95%


class Counts(NamedTuple):
    """Documents of one scope in one period, by sentiment."""

    negative: int = 0
    neutral: int = 0
    positive: int = 0

    @property
    def total(self) -> int:
        return self.negative + self.neutral + self.positive

    def of(self, sentiment: str) -> int:
        """The count of one sentiment."""
        return int(getattr(self, sentiment))

    def __add__(self, other: object) -> Counts:  # type: ignore[override]
        """Element-wise sum (not tuple concatenation)."""
        if not isinstance(other, Counts):
            return NotImplemented
        return Counts(self.negative + other.negative, self.neutral + other.neutral, self.positive + other.positive)


@dataclass(frozen=True)
class SpikeParams:
    """The numbers of a rule that the test needs."""

    min_volume: int = 10
    min_rate: float = 0.4
    min_z: float = 4.0
    min_lift: float = 1.5
    resolve_z: float = 2.0
    prior_weight: float = 20.0


@dataclass(frozen=True)
class SpikeStats:
    """What the test saw, for the verdict, the alert's history and the notification."""

    hits: int  # documents of the tested sentiment in the window
    volume: int  # documents in the window
    rate: float  # hits / volume (0 when empty)
    baseline_hits: int
    baseline_volume: int
    baseline_rate: float  # shrunk toward the prior, clamped
    z: float
    lift: float  # Wilson lower bound of the window rate / baseline rate
    spike: bool  # passes the firing test
    holds: bool  # passes the keep-firing test

    def as_dict(self) -> dict[str, float | int | bool]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def wilson_lower(hits: int, n: int, z: float = _WILSON_Z) -> float:
    """Lower bound of the Wilson score interval for a binomial proportion (0 when n == 0)."""
    if n <= 0:
        return 0.0
    p = hits / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z2 / n))


def binomial_z(hits: int, n: int, p0: float) -> float:
    """How many standard deviations ``hits`` out of ``n`` lies above the count expected at rate ``p0``."""
    if n <= 0:
        return 0.0
    return (hits - n * p0) / math.sqrt(n * p0 * (1 - p0))


def shrunk_rate(hits: int, n: int, prior: float, weight: float) -> float:
    """``hits / n`` pulled toward ``prior`` as if ``weight`` more documents at the prior rate had been seen."""
    if n + weight <= 0:
        return prior
    return (hits + weight * prior) / (n + weight)


def _clamp(p: float) -> float:
    return min(max(p, _RATE_CLAMP[0]), _RATE_CLAMP[1])


def overall_prior(all_baseline: Counts, sentiment: str) -> float:
    """The overall baseline rate of a sentiment, itself shrunk toward 1/3 while history is thin."""
    return shrunk_rate(all_baseline.of(sentiment), all_baseline.total, NEUTRAL_PRIOR, _PRIOR_WEIGHT_ALL)


def assess(
    window: Counts, baseline: Counts, *, sentiment: str, prior: float, params: SpikeParams
) -> SpikeStats:
    """Run the spike test on one scope: ``window`` is recent, ``baseline`` the period before it."""
    hits, volume = window.of(sentiment), window.total
    b_hits, b_volume = baseline.of(sentiment), baseline.total
    p0 = _clamp(shrunk_rate(b_hits, b_volume, prior, params.prior_weight))
    rate = hits / volume if volume else 0.0
    z = binomial_z(hits, volume, p0)
    lift = wilson_lower(hits, volume) / p0
    spike = (
        volume >= params.min_volume and rate >= params.min_rate and z >= params.min_z and lift >= params.min_lift
    )
    return SpikeStats(
        hits=hits,
        volume=volume,
        rate=rate,
        baseline_hits=b_hits,
        baseline_volume=b_volume,
        baseline_rate=p0,
        z=z,
        lift=lift,
        spike=spike,
        holds=volume > 0 and z >= params.resolve_z,
    )
