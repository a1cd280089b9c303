"""The agreement test of validation/compare.py (Welch's t at 95%), without
PyTorch: its quantiles, its false-alarm rate at T = 5 trials, its power."""
import math
import random

import pytest

from welch import Spread, agreement, spread, t_quantile, welch_df, welch_half_width


@pytest.mark.parametrize("df, expected", [(1, 12.706), (4, 2.776), (11, 2.201), (30, 2.042), (1e6, 1.960)])
def test_quantiles_match_the_published_table(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=5e-4)


def test_quantiles_at_other_levels_and_real_degrees_of_freedom():
    assert t_quantile(0.5, 3) == 0.0
    assert t_quantile(0.995, 10) == pytest.approx(3.169, abs=5e-4)
    # Between the table's rows, and falling with ν.
    assert t_quantile(0.975, 4) > t_quantile(0.975, 4.5) > t_quantile(0.975, 5)


def test_the_interval_uses_the_welch_satterthwaite_degrees_of_freedom():
    a, b = Spread(98.47, 0.05, 5), Spread(98.46, 0.02, 5)
    va, vb = 0.05 ** 2 / 5, 0.02 ** 2 / 5
    df = (va + vb) ** 2 / (va ** 2 / 4 + vb ** 2 / 4)
    assert welch_df(a, b) == pytest.approx(df)
    assert 4 < df < 8
    assert welch_half_width(a, b) == pytest.approx(t_quantile(0.975, df) * math.sqrt(va + vb))
    # docs/validation.md, additive σ = 0.1: ±0.06 points.
    assert round(welch_half_width(a, b), 2) == 0.06


def false_alarms(sigma_b, comparisons=2000, trials=5):
    """Rates at which two samples of the same mean are found to differ: by
    Welch's t, and by a normal quantile (1.96) in its place."""
    rng = random.Random(17)
    by_t = by_z = 0
    for _ in range(comparisons):
        a = [rng.gauss(0, 1) for _ in range(trials)]
        b = [rng.gauss(0, sigma_b) for _ in range(trials)]
        verdict = agreement(a, b)
        by_t += not verdict.agree
        sa, sb = spread(a), spread(b)
        by_z += abs(verdict.difference) > 1.96 * math.sqrt(sa.std ** 2 / trials + sb.std ** 2 / trials)
    return by_t / comparisons, by_z / comparisons


@pytest.mark.parametrize("sigma_b", [1.0, 4.0])
def test_false_alarms_at_five_trials_are_five_percent_where_a_normal_quantile_gives_about_ten(sigma_b):
    by_t, by_z = false_alarms(sigma_b)
    assert 0.03 <= by_t <= 0.07
    assert by_z >= 0.075


def test_a_clear_difference_is_detected_and_identical_trials_agree():
    a = [0.981, 0.984, 0.979, 0.983, 0.982]
    shifted = agreement(a, [v - 0.01 for v in a])
    assert not shifted.agree
    assert shifted.difference == pytest.approx(-0.01)
    same = agreement(a, a)
    assert same.agree and same.difference == 0.0
    assert agreement([0.5] * 5, [0.5] * 5) == (0.0, 0.0, True)
