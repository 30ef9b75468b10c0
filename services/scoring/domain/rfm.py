"""RFM quintile scores (1..5, 5 best) and named segments.

Inputs: recency = time since the last purchase (smaller is better), frequency = number of
purchase occasions, monetary = total spend. Cut points are the population's 20/40/60/80 %
quantiles; a value scores 1 + the number of cut points it exceeds (recency: 5 − that
number), so ties at a cut point share the lower band.

Segments (first match wins; FM = ⌈(F + M) / 2⌉):

| segment            | rule               |
|--------------------|--------------------|
| champions          | R >= 4 and FM >= 4 |
| new                | R >= 4 and F == 1  |
| potential_loyalist | R >= 4             |
| loyal              | R == 3 and FM >= 3 |
| cant_lose          | R == 1 and FM >= 4 |
| at_risk            | R <= 2 and FM >= 3 |
| hibernating        | R >= 2             |
| lost               | otherwise (R == 1, FM <= 2) |
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

_QUANTILES = (0.2, 0.4, 0.6, 0.8)


@dataclass(frozen=True)
class RfmCutPoints:
    recency: tuple[float, ...]
    frequency: tuple[float, ...]
    monetary: tuple[float, ...]


@dataclass(frozen=True)
class RfmScores:
    recency: IntArray
    frequency: IntArray
    monetary: IntArray
    segment: npt.NDArray[np.str_]


@dataclass(frozen=True)
class RfmScore:
    recency: int
    frequency: int
    monetary: int
    segment: str


def _cuts(values: npt.ArrayLike) -> tuple[float, ...]:
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError("RFM cut points need at least one customer")
    return tuple(float(cut) for cut in np.quantile(array, _QUANTILES))


def cut_points(
    recency: npt.ArrayLike, frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> RfmCutPoints:
    return RfmCutPoints(_cuts(recency), _cuts(frequency), _cuts(monetary))


def _exceeded(cuts: tuple[float, ...], values: npt.ArrayLike) -> IntArray:
    return np.searchsorted(np.asarray(cuts), np.asarray(values, dtype=np.float64), side="left")


def segment(
    recency_score: npt.ArrayLike, frequency_score: npt.ArrayLike, monetary_score: npt.ArrayLike
) -> npt.NDArray[np.str_]:
    r = np.asarray(recency_score)
    f = np.asarray(frequency_score)
    fm = (f + np.asarray(monetary_score) + 1) // 2
    # The first rule that holds names the segment (shared/contracts/customer_scores.py).
    rules = {
        "champions": (r >= 4) & (fm >= 4),
        "new": (r >= 4) & (f == 1),
        "potential_loyalist": r >= 4,
        "loyal": (r == 3) & (fm >= 3),
        "cant_lose": (r == 1) & (fm >= 4),
        "at_risk": (r <= 2) & (fm >= 3),
        "hibernating": r >= 2,
    }
    return np.asarray(np.select(list(rules.values()), list(rules), default="lost"))


def scores(
    cuts: RfmCutPoints,
    recency: npt.ArrayLike,
    frequency: npt.ArrayLike,
    monetary: npt.ArrayLike,
) -> RfmScores:
    r = 5 - _exceeded(cuts.recency, recency)
    f = 1 + _exceeded(cuts.frequency, frequency)
    m = 1 + _exceeded(cuts.monetary, monetary)
    return RfmScores(r, f, m, segment(r, f, m))


def score_population(
    recency: npt.ArrayLike, frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> tuple[RfmCutPoints, RfmScores]:
    cuts = cut_points(recency, frequency, monetary)
    return cuts, scores(cuts, recency, frequency, monetary)


def score_customer(
    cuts: RfmCutPoints, recency: float, frequency: float, monetary: float
) -> RfmScore:
    """One customer scored against stored cut points (online scoring)."""
    result = scores(cuts, [recency], [frequency], [monetary])
    return RfmScore(
        int(result.recency[0]),
        int(result.frequency[0]),
        int(result.monetary[0]),
        str(result.segment[0]),
    )
