"""Welch's two-sample t test at 95%: whether two sets of trials (accuracies of
two tools on the same configuration) have the same mean.

The difference of the means must lie within t₉₇.₅(ν)·sqrt(s₁²/n₁ + s₂²/n₂),
ν the Welch–Satterthwaite degrees of freedom, a real number. Student's t
quantile is computed, not looked up: Newton's method on the tail probability,
which is ½·I_x(ν/2, ½) at x = ν/(ν + t²), I the regularized incomplete beta
function. Standard library only, so that CI tests it without PyTorch.
"""
import math
from typing import NamedTuple, Sequence


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) by its continued fraction (modified Lentz), on the side of
    x where the fraction converges fast."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - _incomplete_beta(b, a, 1.0 - x)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 100_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * fraction / a


def t_tail(t: float, df: float) -> float:
    """P(T > t) for Student's t with `df` (real, > 0) degrees of freedom, t ≥ 0."""
    return 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


def t_density(t: float, df: float) -> float:
    log_scale = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_scale - (df + 1) / 2 * math.log1p(t * t / df))


def t_quantile(p: float, df: float) -> float:
    """The p quantile (0.5 ≤ p < 1) of Student's t with `df` degrees of freedom.

    Newton's method from t = 0: the tail is convex for t ≥ 0, so every step
    stays below the root and the iteration rises to it monotonically."""
    if not 0.5 <= p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile needs 0.5 ≤ p < 1 and df > 0, got p = {p}, df = {df}")
    tail, t = 1.0 - p, 0.0
    for _ in range(200):
        step = (t_tail(t, df) - tail) / t_density(t, df)
        t += step
        if step < 1e-12 * max(1.0, t):
            break
    return t


class Spread(NamedTuple):
    mean: float
    std: float
    n: int


def spread(values: Sequence[float]) -> Spread:
    """Mean and standard deviation (n − 1) of the trials; a single trial has no spread."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return Spread(mean, std, n)


def welch_df(a: Spread, b: Spread) -> float:
    """The Welch–Satterthwaite degrees of freedom of the difference of two means
    (both samples need two trials or more)."""
    va, vb = a.std ** 2 / a.n, b.std ** 2 / b.n
    return (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1))


def welch_half_width(a: Spread, b: Spread) -> float:
    """Half the 95% interval of the difference of the means (0 when neither varies)."""
    va, vb = a.std ** 2 / a.n, b.std ** 2 / b.n
    if va + vb == 0:
        return 0.0
    return t_quantile(0.975, welch_df(a, b)) * math.sqrt(va + vb)


class Verdict(NamedTuple):
    difference: float
    half_width: float
    agree: bool


def agreement(a: Sequence[float], b: Sequence[float]) -> Verdict:
    """Whether trials `a` and `b` agree: mean(b) − mean(a) within Welch's 95% interval."""
    sa, sb = spread(a), spread(b)
    difference = sb.mean - sa.mean
    half = welch_half_width(sa, sb)
    return Verdict(difference, half, abs(difference) <= half)
