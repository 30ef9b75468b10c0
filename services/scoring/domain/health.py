"""Health score 0–100: a weighted mean of components scaled to [0, 1], capped by retention.

| component    | value                                          | default weight |
|--------------|------------------------------------------------|----------------|
| retention    | buyers: 1 − churn_risk; prospects (no purchase yet): the share of the prospect window (90 days from first seen, lifecycle's early-abort rule) still ahead, 0 once lost | 0.40 |
| recency      | (RFM recency score − 1) / 4 (buyers)           | 0.20           |
| complaints   | 1 / (1 + open complaints)                      | 0.15           |
| satisfaction | (CSAT 1..5 − 1) / 4                            | 0.15           |
| nps          | likelihood to recommend 0..10 / 10             | 0.10           |

health = 100 · (Σ wᵢ·cᵢ / Σ wᵢ over the present components) · min(1, retention / gate)

A missing input (None or NaN) drops out and the remaining weights are renormalised. The gate
(default 0.5) is why a relationship that is ending cannot look healthy from what remains
(no complaints, a good survey long ago): below it, health falls in proportion to retention,
to 0 for a lost prospect.
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
    retention_gate: float = 0.5  # below this retention, health is scaled down in proportion
    prospect_window_days: float = 90.0  # a prospect who has not bought by then is lost


def _component(values: npt.ArrayLike | None, low: float, high: float) -> FloatArray:
    if values is None:
        return np.array(np.nan)
    array = np.asarray(values, dtype=np.float64)
    return np.asarray(np.clip((array - low) / (high - low), 0.0, 1.0))


def prospect_retention(days_since_first_seen: npt.ArrayLike, window_days: float) -> FloatArray:
    """1 when first seen today, falling linearly to 0 at the end of the prospect window."""
    days = np.maximum(np.asarray(days_since_first_seen, dtype=np.float64), 0.0)
    return np.asarray(np.clip(1.0 - days / window_days, 0.0, 1.0))


def health_score(
    churn_risk: npt.ArrayLike | None = None,
    recency_score: npt.ArrayLike | None = None,
    complaints: npt.ArrayLike | None = None,
    satisfaction: npt.ArrayLike | None = None,
    nps: npt.ArrayLike | None = None,
    weights: HealthWeights | None = None,
    retention: npt.ArrayLike | None = None,
) -> FloatArray:
    """0–100; NaN only where every input is missing. ``retention`` (0..1) stands in for
    1 − churn_risk where that is NaN (prospects)."""
    weights = weights or HealthWeights()
    complaint_component = (
        np.array(np.nan)
        if complaints is None
        else 1.0 / (1.0 + np.maximum(np.asarray(complaints, dtype=np.float64), 0.0))
    )
    kept = 1.0 - _component(churn_risk, 0.0, 1.0)
    if retention is not None:
        kept = np.where(np.isnan(kept), _component(retention, 0.0, 1.0), kept)
    parts = np.broadcast_arrays(
        kept,
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
    gate = np.where(
        np.isnan(stacked[..., 0]),
        1.0,
        np.minimum(1.0, stacked[..., 0] / weights.retention_gate)
        if weights.retention_gate > 0
        else 1.0,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(total_weight > 0, 100.0 * weighted / total_weight * gate, np.nan)
    return np.asarray(score)
