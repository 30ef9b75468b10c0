"""Confidence intervals for the difference between two arms (treatment - control).

Proportions (purchase, reactivation, stage kept, opt-out): Newcombe's hybrid score interval
(Newcombe 1998, method 10) built from the two Wilson score intervals; good coverage even for
rare outcomes and small arms, where the Wald interval is too narrow. Means (revenue per
customer): Welch's t interval with the Welch-Satterthwaite degrees of freedom (unequal
variances). Pure: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm, t

LEVEL = 0.95


def z_of(level: float = LEVEL) -> float:
    return float(norm.ppf(0.5 + level / 2))


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """The interval excludes zero: a difference at the interval's level."""
        return self.low > 0 or self.high < 0


def wilson(successes: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval for a proportion; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    z = z_of(level)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(
    treated_successes: int,
    treated_n: int,
    control_successes: int,
    control_n: int,
    level: float = LEVEL,
) -> Interval | None:
    """Difference of proportions p1 - p2 (treatment - control) with Newcombe's method 10;
    None when an arm is empty."""
    if treated_n <= 0 or control_n <= 0:
        return None
    p1, p2 = treated_successes / treated_n, control_successes / control_n
    l1, u1 = wilson(treated_successes, treated_n, level)
    l2, u2 = wilson(control_successes, control_n, level)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Interval(d, low, high)


@dataclass(frozen=True)
class Sample:
    """Sufficient statistics of a sample: size, sum and sum of squares."""

    n: int
    total: float
    squares: float

    @classmethod
    def of(cls, values: list[float]) -> Sample:
        return cls(len(values), math.fsum(values), math.fsum(v * v for v in values))

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Unbiased sample variance (n - 1); 0 for fewer than two values."""
        if self.n < 2:
            return 0.0
        return max(0.0, (self.squares - self.total * self.total / self.n) / (self.n - 1))


def welch(treated: Sample, control: Sample, level: float = LEVEL) -> Interval | None:
    """Difference of means (treatment - control) with Welch's t interval; None when an arm
    has fewer than two values. Zero variance in both arms gives a zero-width interval."""
    if treated.n < 2 or control.n < 2:
        return None
    d = treated.mean - control.mean
    a, b = treated.variance / treated.n, control.variance / control.n
    se = math.sqrt(a + b)
    if se == 0:
        return Interval(d, d, d)
    df = (a + b) ** 2 / (a * a / (treated.n - 1) + b * b / (control.n - 1))
    half = float(t.ppf(0.5 + level / 2, df)) * se
    return Interval(d, d - half, d + half)
