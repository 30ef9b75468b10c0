"""Score updates on clm.customer-scores.v1: only material changes, deterministic ids."""

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.cloudevents import CloudEvent, KafkaRecord, to_kafka
from shared.topics import CUSTOMER_SCORES

SCORES_UPDATED = "clm.scoring.scores_updated"
SOURCE = "/clm/scoring"
SCHEMA = "urn:clm:schema:customer-scores:v1"

PROBABILITY_STEP = 0.01  # churn_risk or p_alive moving by more than this is material
CLV_RELATIVE_STEP = 0.01  # so is CLV moving by more than 1 %


@dataclass(frozen=True)
class Published:
    """What subscribers last heard about each customer (NaN / "" = nothing yet)."""

    p_alive: npt.NDArray[np.float64]
    churn_risk: npt.NDArray[np.float64]
    clv: npt.NDArray[np.float64]
    segment: npt.NDArray[np.str_]


def _moved(new: npt.NDArray[np.float64], old: npt.NDArray[np.float64], step: float) -> Any:
    return np.where(np.isnan(old), ~np.isnan(new), np.abs(np.nan_to_num(new) - old) > step)


def material_changes(
    published: Published,
    p_alive: npt.NDArray[np.float64],
    risk: npt.NDArray[np.float64],
    value: npt.NDArray[np.float64],
    segment: npt.NDArray[np.str_],
) -> npt.NDArray[np.bool_]:
    scored = ~np.isnan(risk)
    clv_step = np.maximum(np.abs(np.nan_to_num(published.clv)) * CLV_RELATIVE_STEP, 1e-6)
    changed = (
        _moved(p_alive, published.p_alive, PROBABILITY_STEP)
        | _moved(risk, published.churn_risk, PROBABILITY_STEP)
        | np.where(
            np.isnan(published.clv),
            ~np.isnan(value),
            np.abs(np.nan_to_num(value) - published.clv) > clv_step,
        )
        | (segment != published.segment)
    )
    return np.asarray(scored & changed)


def event_id(customer_id: str, model_id: str, cause: str) -> str:
    return hashlib.sha256(f"{customer_id}\x1f{model_id}\x1f{cause}".encode()).hexdigest()


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 10)


def score_record(
    *,
    customer_id: str,
    model_id: str,
    cause: str,
    time: datetime,
    p_alive: float,
    churn_risk: float,
    expected_purchases: float,
    expected_avg_spend: float,
    clv: float,
    segment: str,
    health_score: float,
    horizon: float | None,
    time_unit: str,
) -> KafkaRecord:
    data = {
        "customer_id": customer_id,
        "model_id": model_id,
        "p_alive": _number(p_alive),
        "churn_risk": _number(churn_risk),
        "expected_purchases": _number(expected_purchases),
        "expected_avg_spend": _number(expected_avg_spend),
        "clv": _number(clv),
        "segment": segment or None,
        "health_score": _number(health_score),
        "horizon": horizon,
        "time_unit": time_unit,
        "scored_at": time.isoformat(),
        "cause": cause,
    }
    event = CloudEvent(
        id=event_id(customer_id, model_id, cause),
        source=SOURCE,
        type=SCORES_UPDATED,
        subject=customer_id,
        time=time,
        data=data,
        dataschema=SCHEMA,
    )
    return to_kafka(CUSTOMER_SCORES, event)
