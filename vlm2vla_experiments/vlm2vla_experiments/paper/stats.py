"""Paired bootstrap confidence intervals for differences of ratio-of-sums statistics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap confidence interval."""

    estimate: float
    low: float
    high: float
    # Coverage of [low, high], e.g. 0.95.
    level: float

    def to_dict(self) -> dict[str, float]:
        """JSON-ready dict."""
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "level": self.level}

    def text(self, digits: int = 2) -> str:
        """E.g. ``"-3.21 [-3.40, -3.02]"``."""
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> float:
    """``sum(numerator) / sum(denominator)`` (e.g. log-probability per token over all items)."""
    return float(np.sum(numerator) / np.sum(denominator))


def _resample_weights(count: int, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """(resamples, count) counts of each item in each bootstrap resample (multinomial)."""
    return rng.multinomial(count, np.full(count, 1.0 / count), size=resamples)


def _interval(estimate: float, draws: np.ndarray, level: float) -> Interval:
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return Interval(estimate, float(low), float(high), level)


def paired_difference(
    a: tuple[np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
    resamples: int = 2000,
    level: float = 0.95,
) -> Interval:
    """``ratio(*b) - ratio(*a)`` with a paired (same items resampled) percentile bootstrap.

    ``a`` and ``b`` are (numerator, denominator) arrays over the same items, e.g. per-chunk summed
    log-probabilities and token counts of two encodings of the same chunks; a denominator of ones
    gives a difference of means. Items are resampled with replacement ``resamples`` times.
    """
    arrays = [np.asarray(x, dtype=np.float64) for x in (*a, *b)]
    count = len(arrays[0])
    if count == 0 or any(len(x) != count for x in arrays):
        raise ValueError("all four arrays must be non-empty and of the same length")
    if not 0.0 < level < 1.0 or resamples < 1:
        raise ValueError("level must lie in (0, 1) and resamples be >= 1")
    a_num, a_den, b_num, b_den = arrays
    estimate = ratio(b_num, b_den) - ratio(a_num, a_den)
    # Resample counts per item (multinomial), then every statistic is a weighted sum.
    weights = _resample_weights(count, rng, resamples)
    diffs = (weights @ b_num) / (weights @ b_den) - (weights @ a_num) / (weights @ a_den)
    return _interval(estimate, diffs, level)


def paired_ratio(
    a: np.ndarray,
    b: np.ndarray,
    rng: np.random.Generator,
    resamples: int = 2000,
    level: float = 0.95,
) -> Interval:
    """``sum(b) / sum(a)`` (e.g. accuracy after / before over the same questions), paired bootstrap.

    Resamples where ``sum(a)`` is 0 are dropped; raises ValueError when ``sum(a)`` is 0.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) == 0 or len(a) != len(b) or not a.sum():
        raise ValueError("a and b must be non-empty, of the same length, and sum(a) non-zero")
    weights = _resample_weights(len(a), rng, resamples)
    denominators = weights @ a
    kept = denominators > 0
    draws = (weights @ b)[kept] / denominators[kept]
    return _interval(float(b.sum() / a.sum()), draws, level)
