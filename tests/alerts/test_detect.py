"""The spike statistics, without a database."""

from __future__ import annotations

import math
import random

import pytest

from finsent.alerts.detect import (
    Counts,
    SpikeParams,
    assess,
    binomial_z,
    overall_prior,
    shrunk_rate,
    wilson_lower,
)

PARAMS = SpikeParams(min_volume=10, min_rate=0.4, min_z=4.0, min_lift=1.5, resolve_z=2.0, prior_weight=20)


def test_wilson_lower_bound_matches_the_textbook_values() -> None:
    assert wilson_lower(0, 0) == 0.0
    assert wilson_lower(0, 10) == 0.0
    # 8 of 10 at 95% one-sided (z = 1.645): (0.9353 - 0.2482) / 1.2706, worked by hand.
    assert wilson_lower(8, 10) == pytest.approx(0.5408, abs=1e-3)
    assert wilson_lower(10, 10) < 1.0
    # More evidence for the same rate tightens the bound toward it.
    assert wilson_lower(8, 10) < wilson_lower(80, 100) < wilson_lower(800, 1000) < 0.8


def test_binomial_z_is_the_standardised_excess() -> None:
    assert binomial_z(30, 100, 0.3) == 0.0
    assert binomial_z(51, 100, 0.3) == pytest.approx(21 / math.sqrt(21))
    assert binomial_z(0, 0, 0.3) == 0.0


def test_shrinkage_pulls_thin_baselines_toward_the_prior() -> None:
    assert shrunk_rate(0, 0, 0.3, 20) == pytest.approx(0.3)
    assert shrunk_rate(3, 3, 0.3, 20) == pytest.approx((3 + 6) / 23)  # 100% on 3 docs is not believed
    assert shrunk_rate(3000, 10000, 0.5, 20) == pytest.approx(0.3, abs=1e-3)  # a long history is
    assert overall_prior(Counts(), "negative") == pytest.approx(1 / 3)


def test_a_clear_burst_fires() -> None:
    stats = assess(Counts(21, 3, 0), Counts(300, 450, 250), sentiment="negative", prior=0.3, params=PARAMS)
    assert stats.spike and stats.holds
    assert stats.rate == pytest.approx(21 / 24) and stats.z > 6 and stats.lift > 2


@pytest.mark.parametrize(
    ("window", "why"),
    [
        (Counts(7, 1, 0), "below min_volume"),
        (Counts(4, 6, 5), "normal rate"),
        (Counts(5, 7, 0), "rate under the floor is not tested further"),
    ],
)
def test_no_spike_without_volume_or_excess(window: Counts, why: str) -> None:
    stats = assess(window, Counts(300, 450, 250), sentiment="negative", prior=0.3, params=PARAMS)
    assert not stats.spike, why


def test_huge_scopes_need_a_material_shift_not_just_significance() -> None:
    # 33% vs 30% over 20,000 documents is 9 sigma but not a spike anyone wants paged for.
    stats = assess(Counts(6600, 9000, 4400), Counts(30000, 45000, 25000), sentiment="negative", prior=0.3, params=PARAMS)
    assert stats.z > 9 and stats.lift < 1.2 and not stats.spike


def test_a_habitually_negative_ticker_is_judged_against_itself() -> None:
    usual = Counts(600, 300, 100)  # 60% negative is normal for this one
    assert not assess(Counts(14, 6, 0), usual, sentiment="negative", prior=0.3, params=PARAMS).spike
    assert assess(Counts(14, 6, 0), Counts(150, 600, 250), sentiment="negative", prior=0.3, params=PARAMS).spike


def test_positive_direction_tests_the_positive_rate() -> None:
    stats = assess(Counts(0, 3, 20), Counts(300, 450, 250), sentiment="positive", prior=0.25, params=PARAMS)
    assert stats.spike and stats.hits == 20


def test_hysteresis_keeps_a_fading_spike_firing_until_z_drops_below_resolve_z() -> None:
    baseline = Counts(300, 450, 250)
    fading = assess(Counts(8, 5, 1), baseline, sentiment="negative", prior=0.3, params=PARAMS)
    assert not fading.spike and fading.holds  # would not fire now, but does not resolve yet
    over = assess(Counts(4, 8, 4), baseline, sentiment="negative", prior=0.3, params=PARAMS)
    assert not over.holds
    assert not assess(Counts(), baseline, sentiment="negative", prior=0.3, params=PARAMS).holds


def test_false_alarm_rate_under_the_null_is_tiny() -> None:
    # Windows drawn from the baseline rate itself, at the volumes where the normal approximation
    # is weakest: the test should almost never fire.
    rng = random.Random(5)
    baseline = Counts(3000, 4500, 2500)
    fired = 0
    trials = 20_000
    for _ in range(trials):
        n = rng.randint(10, 60)
        k = sum(rng.random() < 0.3 for _ in range(n))
        fired += assess(Counts(k, n - k, 0), baseline, sentiment="negative", prior=0.3, params=PARAMS).spike
    assert fired / trials < 5e-4
