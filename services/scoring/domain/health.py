"""Health score 0–100: a weighted mean of components scaled to [0, 1].

| component    | value                         | default weight |
|--------------|-------------------------------|----------------|
| retention    | 1 − churn_risk                | 0.40           |
| recency      | (RFM recency score − 1) / 4   | 0.20           |
| complaints   | 1 / (1 + open complaints)     | 0.15           |
| satisfaction | (CSAT 1..5 − 1) / 4           | 0.15           |
| nps          | likelihood to recommend 0..10 / 10 | 0.10      |

A missing input (None or NaN) drops out and the remaining weights are renormalised.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class HealthWeights:
    retention: float = 0.40
    recency: float = 0.20
    complaints: float = 0.15
    satisfaction: float = 0.15
    nps: float = 0.10


def _component(values: npt.ArrayLike | None, low: float, high: float) -> FloatArray:
    if values is None:
        return np.array(np.nan)
    array = np.asarray(values, dtype=np.float64)
    return np.asarray(np.clip((array - low) / (high - low), 0.0, 1.0))


def health_score(
    churn_risk: npt.ArrayLike | None = None,
    recency_score: npt.ArrayLike | None = None,
    complaints: npt.ArrayLike | None = None,
    satisfaction: npt.ArrayLike | None = None,
    nps: npt.ArrayLike | None = None,
    weights: HealthWeights | None = None,
) -> FloatArray:
    """0–100; NaN only where every input is missing."""
    weights = weights or HealthWeights()
    complaint_component = (
        np.array(np.nan)
        if complaints is None
        else 1.0 / (1.0 + np.maximum(np.asarray(complaints, dtype=np.float64), 0.0))
    )
    parts = np.broadcast_arrays(
        1.0 - _component(churn_risk, 0.0, 1.0),
        _component(recency_score, 1.0, 5.0),
        complaint_component,
        _component(satisfaction, 1.0, 5.0),
        _component(nps, 0.0, 10.0),
    )
    stacked = np.stack(parts, axis=-1)
    w = np.array(
        [weights.retention, weights.recency, weights.complaints, weights.satisfaction, weights.nps]
    )
    present = ~np.isnan(stacked)
    total_weight = present @ w
    weighted = np.where(present, stacked, 0.0) @ w
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(total_weight > 0, 100.0 * weighted / total_weight, np.nan)
    return np.asarray(score)
